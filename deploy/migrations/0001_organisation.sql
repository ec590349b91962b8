-- 0001_organisation.sql — the territory and the people: regions, units, principals, tokens.
--
-- Everything else hangs off these four tables. A region is an administrative division
-- (GB/T 2260 / GB/T 10114 code) at one of four tiers; a unit is an office inside one
-- region; a principal is someone (or some system) that acts; an API token authenticates a
-- principal. The constraints pin what the division codes themselves already say (a
-- province code ends in 0000, a township code has 9 or 12 digits and starts with its
-- county's code), so a mis-typed import fails loudly instead of routing cases wrongly.
-- Applied by the migration runner in one transaction.

-- 统一社会信用代码 (GB 32100-2015): 18 characters from the digits and the capitals
-- without I, O, S, V, Z. Only the alphabet and length are checked here; the check digit is
-- verified by intake, where a typo can be answered with a helpful message.
create domain uscc as text
    constraint uscc_format check (value ~ '^[0-9A-HJ-NP-RTUW-Y]{2}[0-9]{6}[0-9A-HJ-NP-RTUW-Y]{10}$');
comment on domain uscc is
    'Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, alphabet and length checked; the check digit is verified by the application.';

-- ---------------------------------------------------------------------------------------
create table regions (
    code           text        primary key,
    name           text        not null,
    tier           smallint    not null,
    parent_code    text        references regions (code),
    policy_profile text,
    created_at     timestamptz not null default now(),

    constraint regions_code_format check (code ~ '^([0-9]{6}|[0-9]{9}|[0-9]{12})$'),
    constraint regions_tier_range check (tier between 1 and 4),
    -- The code spells the tier: xx0000 province, xxxx00 city, other 6-digit county,
    -- 9 or 12 digits township.
    constraint regions_code_fits_tier check (
        case tier
            when 1 then code ~ '^[0-9]{2}0000$'
            when 2 then code ~ '^[0-9]{4}00$' and code !~ '0000$'
            when 3 then code ~ '^[0-9]{6}$' and code !~ '00$'
            else char_length(code) in (9, 12)
        end),
    constraint regions_province_has_no_parent check (tier > 1 or parent_code is null),
    constraint regions_not_own_parent check (parent_code <> code),
    constraint regions_name_not_blank check (btrim(name) <> '' and char_length(name) <= 100),
    constraint regions_policy_profile_format check (policy_profile ~ '^[a-z0-9][a-z0-9_.-]{0,63}$')
);

comment on table regions is
    'Administrative divisions (province → city → county → township) a deployment serves. Cases belong to the region where the enterprise operates (属地管理); units and dispatch centres belong to one region each.';
comment on column regions.code is
    'Division code: 6 digits for province/city/county (GB/T 2260), 9 or 12 for township (GB/T 10114). Stable public identifier; never renumbered in place.';
comment on column regions.tier is '1 province/autonomous region, 2 city/league, 3 county/district/banner/county-level city, 4 township/town/sub-district.';
comment on column regions.parent_code is
    'The division above. NULL for a province, and for the topmost region of a deployment that does not load its parents (a city-tier deployment may start at its city).';
comment on column regions.policy_profile is
    'Name of the policy profile (deadlines, revisit rules, card rules) in force here; NULL inherits the nearest ancestor''s — see region_effective_profile().';

create index regions_parent on regions (parent_code);

-- A parent must sit at a higher tier and its code must prefix the child's. The tier gap
-- may exceed one: Dongguan and Zhongshan have towns directly under the city, Hubei and
-- Hainan have counties directly under the province (省直辖县级行政单位).
create function regions_check_parent() returns trigger
language plpgsql as $$
declare
    p regions%rowtype;
begin
    if new.parent_code is null then
        return new;
    end if;
    select * into p from regions where code = new.parent_code;
    if not found then
        return new; -- the foreign key reports this one
    end if;
    if p.tier >= new.tier then
        raise exception using
            errcode = 'check_violation',
            message = format('region %s (tier %s) cannot sit under %s (tier %s)',
                             new.code, new.tier, p.code, p.tier);
    end if;
    if left(new.code, char_length(regexp_replace(p.code, '(00)+$', ''))) <>
       regexp_replace(p.code, '(00)+$', '') then
        raise exception using
            errcode = 'check_violation',
            message = format('region code %s does not start with its parent''s code %s',
                             new.code, p.code);
    end if;
    return new;
end $$;
comment on function regions_check_parent() is
    'Trigger: a region''s parent is at a higher tier and its significant code digits prefix the child''s.';

create trigger regions_check_parent
    before insert or update of parent_code, tier, code on regions
    for each row execute function regions_check_parent();

create function region_effective_profile(p_code text) returns text
language sql stable as $$
    with recursive up(code, parent_code, policy_profile, depth) as (
        select code, parent_code, policy_profile, 0 from regions where code = p_code
        union all
        select r.code, r.parent_code, r.policy_profile, up.depth + 1
          from regions r join up on r.code = up.parent_code
         where up.policy_profile is null and up.depth < 8
    )
    select policy_profile from up where policy_profile is not null order by depth limit 1
$$;
comment on function region_effective_profile(text) is
    'The policy profile in force for a region: its own, else the nearest ancestor''s; NULL when no ancestor names one (an operator error the daemons must report).';

create function region_ancestor_at(p_code text, p_tier smallint) returns text
language sql stable as $$
    with recursive up(code, parent_code, tier, depth) as (
        select code, parent_code, tier, 0 from regions where code = p_code
        union all
        select r.code, r.parent_code, r.tier, up.depth + 1
          from regions r join up on r.code = up.parent_code
         where up.tier > p_tier and up.depth < 8
    )
    select code from up where tier = p_tier
$$;
comment on function region_ancestor_at(text, smallint) is
    'The region at tier p_tier that contains p_code (itself when it is at that tier); NULL when none is loaded. A case handled at cases.tier is handled by the centre of region_ancestor_at(cases.region_code, cases.tier).';

-- ---------------------------------------------------------------------------------------
create table units (
    id          bigserial   primary key,
    code        text        not null unique,
    name        text        not null,
    region_code text        not null references regions (code),
    kind        text        not null,
    head_name   text,
    deputy_name text,
    phone       text,
    active      boolean     not null default true,
    created_at  timestamptz not null default now(),

    constraint units_code_format check (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    constraint units_name_not_blank check (btrim(name) <> '' and char_length(name) <= 200),
    constraint units_kind check (kind in ('centre', 'department', 'township', 'zone',
                                          'supervision', 'leadership', 'discipline', 'hotline')),
    constraint units_head_names check (char_length(head_name) <= 50 and char_length(deputy_name) <= 50),
    constraint units_phone_format check (phone ~ '^[0-9+() -]{3,32}$')
);

comment on table units is
    'Offices that act on cases: the dispatch centre of each region (工作专班/营商办/推进中心), handling departments (承办单位), township governments, development-zone committees, the supervision office (督查室), the leadership group, discipline inspection (纪委监委) and the 12345 hotline.';
comment on column units.code is 'Short stable identifier used in configuration and the responsibility catalogue (派单目录).';
comment on column units.kind is
    'centre: the dispatch centre of its region; department: a functional department; township: a township/street government; zone: a development-zone or functional-area committee; supervision: 督查室; leadership: 领导小组; discipline: 纪委监委; hotline: 12345 专席.';
comment on column units.head_name is 'Principal head (主要负责人): interviewed after two red cards in a row (seed 004).';
comment on column units.deputy_name is 'Deputy head in charge (分管负责人): interviewed on a red card (seed 004).';
comment on column units.active is 'Inactive units keep their history but receive no new cases.';

-- Exactly one active dispatch centre per region: routing and escalation look it up.
create unique index units_one_centre_per_region on units (region_code) where kind = 'centre' and active;
create index units_region_kind on units (region_code, kind);

-- ---------------------------------------------------------------------------------------
create table principals (
    id          bigserial   primary key,
    name        text        not null,
    role        text        not null,
    unit_id     bigint      references units (id),
    region_code text        references regions (code),
    credit_code uscc,
    disabled    boolean     not null default false,
    created_at  timestamptz not null default now(),

    constraint principals_name_not_blank check (btrim(name) <> '' and char_length(name) <= 200),
    constraint principals_role check (role in ('enterprise', 'agent', 'centre', 'unit',
                                               'supervisor', 'leader', 'discipline', 'operator')),
    constraint principals_unit_has_unit check (role <> 'unit' or unit_id is not null),
    constraint principals_region_roles_have_region
        check (role not in ('centre', 'agent', 'supervisor') or region_code is not null),
    constraint principals_enterprise_has_code check (role <> 'enterprise' or credit_code is not null),
    -- An enterprise is outside the government: it must never inherit a unit's view.
    constraint principals_enterprise_has_no_unit check (role <> 'enterprise' or unit_id is null)
);

comment on table principals is
    'Everyone who acts or reads: enterprises, intake agents, dispatch-centre staff, handling-unit staff, supervisors, leaders, discipline inspectors, operators. The daemons act as role ''system'', which is not a row here (case_events.actor_principal_id is NULL for them).';
comment on column principals.role is 'Decides what the principal may do (common/casefsm.c) and see (a unit sees its own cases, an enterprise its own).';
comment on column principals.unit_id is 'The unit a ''unit'' principal works for (required); optional for other government roles.';
comment on column principals.region_code is 'Jurisdiction of centre, agent and supervisor principals (required for them): they see and act on cases of this region and below.';
comment on column principals.credit_code is 'For enterprise principals (required): the enterprise they speak for; they see only cases with this credit code.';
comment on column principals.disabled is 'Disabled principals keep their history but cannot authenticate. Principals are never deleted.';

create index principals_unit on principals (unit_id) where unit_id is not null;
create index principals_region on principals (region_code) where region_code is not null;
create index principals_credit_code on principals (credit_code) where credit_code is not null;

-- ---------------------------------------------------------------------------------------
create table api_tokens (
    token_hash   bytea       primary key,
    principal_id bigint      not null references principals (id),
    label        text,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,

    constraint api_tokens_hash_is_sha256 check (octet_length(token_hash) = 32),
    constraint api_tokens_label_length check (char_length(label) <= 200),
    constraint api_tokens_expiry_after_creation check (expires_at > created_at),
    constraint api_tokens_revoked_after_creation check (revoked_at >= created_at)
);

comment on table api_tokens is
    'Bearer tokens for the HTTP API. Only the SHA-256 of a token is stored, so a copy of the database does not let anyone act; the token itself is shown once when issued.';
comment on column api_tokens.token_hash is 'SHA-256 of the token (32 bytes): the lookup key on every request.';
comment on column api_tokens.label is 'Free text for operators: what or who the token was issued for.';
comment on column api_tokens.expires_at is 'NULL never expires (service tokens); otherwise refused from this instant.';
comment on column api_tokens.revoked_at is 'Set to revoke; the row stays for the audit trail.';

create index api_tokens_principal on api_tokens (principal_id);
