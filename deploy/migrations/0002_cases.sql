-- 0002_cases.sql — the case itself: numbering, the current-state row, its units, attachments.
--
-- `cases` is the current state of each appeal, one row per case, rewritten on every
-- transition under optimistic concurrency (`version`); its history is `case_events`
-- (0003). The state list matches common/casefsm.c; which transitions are legal is decided
-- there, in C, by the one table every daemon uses. What the database enforces is what
-- must hold in every state whatever the path: a final case has closed_at, a duplicate
-- points at its original, a rejected case keeps its reason, a case in a unit's hands names
-- that unit, every update bumps the version by exactly one, and no case is ever deleted.
-- Applied by the migration runner in one transaction.

-- ---------------------------------------------------------------------------------------
create table refusal_reasons (
    code        text    primary key,
    name_zh     text    not null,
    description text    not null,
    active      boolean not null default true,

    constraint refusal_reasons_code_format check (code ~ '^[a-z][a-z0-9_]{1,63}$')
);

comment on table refusal_reasons is
    'Why a case may be refused (不予受理), the union of the seeds'' lists. Data, not code: a locality that adds a reason adds a row. Every rejected case names one, and the enterprise is told it.';
comment on column refusal_reasons.active is 'Inactive reasons stay valid for old cases but are not offered for new refusals.';

insert into refusal_reasons (code, name_zh, description) values
    ('state_secret',            '涉及国家秘密',                   'Involves state secrets.'),
    ('trade_secret_privacy',    '涉及商业秘密、个人隐私',         'Involves trade secrets or personal privacy (seed 002).'),
    ('military_security',       '涉及军队和国家安全',             'Concerns the military or national security.'),
    ('non_government_remit',    '属于非政府部门职能',             'Remit of the party, people''s congress, CPPCC, discipline commission, courts, procuratorate, mass organisations or the armed forces.'),
    ('legal_procedure',         '已进入法定途径',                 'Already in litigation, arbitration, administrative reconsideration, petition, discipline or information-disclosure procedure, or concluded there.'),
    ('other_statutory_channel', '应通过其他法定程序处理',         'A complaint or report that must go through another statutory procedure (seed 003).'),
    ('concluded_no_new_facts',  '已依法办结且无新事实理由',       'Lawfully concluded before; raised again on the same facts and grounds (may be certified terminated).'),
    ('emergency_service',       '属于110/119/120/122紧急救助',    'Belongs to the 110/119/120/122 emergency services.'),
    ('civil_dispute',           '经营主体之间民事纠纷',           'Civil dispute between businesses.'),
    ('unclear_or_unreachable',  '诉求不清或联系不上',             'No clear request, false contact details, or unreachable after repeated attempts.'),
    ('unlawful',                '违反法律法规或公序良俗',         'Against laws, regulations or public order and good morals.'),
    ('harms_others',            '损害他人合法权益',               'Harms the lawful rights of natural persons, legal persons or other organisations.'),
    ('outside_region',          '不属于本地区受理范围',           'Outside this region''s remit; the enterprise is told within the profile''s notice period or the case goes to the tier above.'),
    ('outside_scope',           '超出受理范围',                   'Otherwise outside the mechanism''s scope (not a business-environment matter).');

-- ---------------------------------------------------------------------------------------
create table case_seq (
    region_code text     not null references regions (code),
    year        smallint not null,
    last_no     bigint   not null,

    primary key (region_code, year),
    constraint case_seq_year_range check (year between 2000 and 2999),
    constraint case_seq_last_no_positive check (last_no >= 1)
);

comment on table case_seq is
    'Last case number issued per numbering region and year. A row lock (not a sequence) so numbers have no gaps: a rolled-back registration gives its number back, and offices check their ledgers (台账 序号) for gaps. Contention is per region, held only until the registering transaction commits.';
comment on column case_seq.region_code is 'The region whose prefix the case number carries (normally the county or the city that registers).';
comment on column case_seq.last_no is 'The last number handed out; the next is last_no + 1.';

create function case_seq_next(p_region text, p_year int) returns bigint
language sql volatile as $$
    insert into case_seq as s (region_code, year, last_no) values (p_region, p_year, 1)
    on conflict (region_code, year) do update set last_no = s.last_no + 1
    returning last_no
$$;
comment on function case_seq_next(text, int) is
    'Issues the next case number of a region and year, safe under concurrency; call it in the transaction that inserts the case so a rollback returns the number.';

create function case_no_next(p_region text, p_at timestamptz) returns text
language sql volatile as $$
    select format('%s-%s-%s', p_region, y, lpad(case_seq_next(p_region, y)::text, 6, '0'))
      from (select extract(year from p_at at time zone 'Asia/Shanghai')::int as y) as t
$$;
comment on function case_no_next(text, timestamptz) is
    'The next case number, e.g. 450102-2026-000123; the year is that of p_at in Beijing time, so a case received at 00:30 on 1 January counts in the new year.';

-- ---------------------------------------------------------------------------------------
create table cases (
    id                 uuid        primary key default gen_random_uuid(),
    case_no            text        not null unique,
    tracking_code_hash bytea,
    region_code        text        not null references regions (code),
    tier               smallint    not null,
    state              text        not null default 'received',
    version            int         not null default 1,
    kind               text        not null,
    complexity         text        not null default 'general',
    channel            text        not null,
    enterprise_name    text        not null,
    credit_code        uscc,
    address            text,
    contact_name       text,
    contact_phone      text,
    summary            text        not null,
    body               text        not null,
    confidential       boolean     not null default false,
    duplicate_of       uuid        references cases (id),
    reject_reason      text        references refusal_reasons (code),
    lead_unit_id       bigint      references units (id),
    received_at        timestamptz not null default now(),
    due_at             timestamptz,
    closed_at          timestamptz,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),

    constraint cases_case_no_format check (case_no ~ '^[0-9]{6}([0-9]{3}|[0-9]{6})?-[0-9]{4}-[0-9]{6,}$'),
    constraint cases_tracking_code_is_sha256 check (octet_length(tracking_code_hash) = 32),
    constraint cases_tier_range check (tier between 1 and 4),
    constraint cases_state check (state in ('received', 'accepted', 'rejected', 'duplicate',
                                            'dispatched', 'in_progress', 'resolved',
                                            'closed', 'archived')),
    constraint cases_version_positive check (version >= 1),
    constraint cases_kind check (kind in ('consultation', 'help', 'complaint', 'report', 'suggestion')),
    constraint cases_complexity check (complexity in ('simple', 'general', 'complex')),
    constraint cases_channel check (channel in ('web', 'hotline', 'window', 'field_visit',
                                                'solicitation', 'mini_program', 'qr_code',
                                                'email', 'upper_transfer')),
    constraint cases_enterprise_name_length check (btrim(enterprise_name) <> '' and char_length(enterprise_name) <= 200),
    constraint cases_address_length check (char_length(address) <= 500),
    constraint cases_contact_name_length check (char_length(contact_name) between 1 and 50),
    constraint cases_contact_phone_format check (contact_phone ~ '^[0-9+() -]{3,32}$'),
    constraint cases_summary_length check (btrim(summary) <> '' and char_length(summary) <= 500),
    constraint cases_body_length check (btrim(body) <> '' and char_length(body) <= 50000),

    -- The invariants of the lifecycle that hold whatever path led to a state.
    constraint cases_closed_iff_final
        check ((closed_at is not null) = (state in ('rejected', 'duplicate', 'closed', 'archived'))),
    constraint cases_duplicate_iff_linked check ((duplicate_of is not null) = (state = 'duplicate')),
    constraint cases_not_duplicate_of_itself check (duplicate_of <> id),
    constraint cases_rejected_iff_reason check ((reject_reason is not null) = (state = 'rejected')),
    constraint cases_handled_has_lead_unit
        check (state not in ('dispatched', 'in_progress') or lead_unit_id is not null),
    constraint cases_due_after_received check (due_at >= received_at),
    constraint cases_closed_after_received check (closed_at >= received_at)
);

comment on table cases is
    'One row per appeal (诉求件): its registration data and current state. Rewritten on every transition with version = version + 1 under optimistic concurrency; the full history is case_events. Never deleted: a case ends archived.';
comment on column cases.id is 'Internal identifier, also the Kafka message key of every case event.';
comment on column cases.case_no is 'Human case number <region>-<year>-<6+ digits>, gap-free per region and year (case_no_next()).';
comment on column cases.tracking_code_hash is 'SHA-256 of the tracking code given to the enterprise to follow its case without an account; NULL when none was issued.';
comment on column cases.region_code is 'Where the enterprise operates (属地). Does not change on escalation.';
comment on column cases.tier is 'The tier now responsible: escalation (提级) lowers the number. The responsible centre is that of region_ancestor_at(region_code, tier); never below region_code''s own tier.';
comment on column cases.state is 'Lifecycle state; the transitions between them are decided by common/casefsm.c.';
comment on column cases.version is 'Optimistic-concurrency counter: 1 at insert, +1 on every update (enforced). Writers update WHERE id = $1 AND version = $2 and treat zero rows as a conflict.';
comment on column cases.kind is 'consultation 咨询, help 求助, complaint 投诉, report 举报, suggestion 意见建议: selects the deadline of the profile.';
comment on column cases.complexity is 'simple, general, or complex (疑难复杂: several units, policy-heavy, long).';
comment on column cases.channel is 'How the appeal came in: web portal, 12345 hotline, service-hall window, field visit, weekly solicitation, e-licence mini-program, QR code, e-mail, or transfer from an upper tier.';
comment on column cases.credit_code is 'The enterprise''s unified social credit code; NULL only when a caller could not give it (hotline). Enterprise principals see the cases carrying their code.';
comment on column cases.contact_phone is 'Personal data: never logged in clear, shown only to those handling the case.';
comment on column cases.summary is 'One-line summary (主要诉求) for lists and the ledger.';
comment on column cases.body is 'Full text of the appeal as submitted.';
comment on column cases.confidential is 'Reports (举报) under confidentiality: the reporter''s identity is withheld from the unit reported on.';
comment on column cases.duplicate_of is 'Set exactly when state = duplicate: the open case this one was folded into (重复件).';
comment on column cases.reject_reason is 'Set exactly when state = rejected: the refusal reason told to the enterprise.';
comment on column cases.lead_unit_id is 'The lead unit (牵头/首接单位) now responsible; required while dispatched or in progress. History and co-handlers are in case_units.';
comment on column cases.received_at is 'When the appeal was received: day zero of every working-day deadline (the day of receipt does not count).';
comment on column cases.due_at is 'The handling deadline in force (after agreed deadlines and extensions); NULL until one is set.';
comment on column cases.closed_at is 'Set exactly when the case reaches a final state (rejected, duplicate, closed, archived); the end of handling time in reports.';

-- Lookup by tracking code (enterprise without an account).
create unique index cases_tracking_code on cases (tracking_code_hash) where tracking_code_hash is not null;
-- A centre's open work, by state and deadline.
create index cases_open_by_region on cases (region_code, state, due_at) where closed_at is null;
-- A unit's open work, soonest deadline first.
create index cases_open_by_lead_unit on cases (lead_unit_id, due_at) where closed_at is null;
-- Region listings and period reports (a region and its children are an IN list of codes).
create index cases_region_received on cases (region_code, received_at);
-- An enterprise's own cases, and duplicate detection at intake (same enterprise, open).
create index cases_credit_code on cases (credit_code, received_at) where credit_code is not null;
create index cases_duplicate_of on cases (duplicate_of) where duplicate_of is not null;
-- Province-wide period scans: rows arrive in received_at order, so a BRIN is tiny.
create index cases_received_brin on cases using brin (received_at);

-- The row-level rules a CHECK cannot express: identity is immutable, every update bumps the
-- version by one, updated_at is the database's clock, the responsible tier is not below
-- the case's own region, and cases are never deleted.
create function cases_guard() returns trigger
language plpgsql as $$
declare
    region_tier smallint;
begin
    if tg_op = 'DELETE' then
        raise exception using
            errcode = 'integrity_constraint_violation',
            message = format('case %s cannot be deleted: cases end archived', old.case_no);
    end if;
    if tg_op = 'UPDATE' then
        if new.id <> old.id or new.case_no <> old.case_no
           or new.received_at <> old.received_at or new.created_at <> old.created_at then
            raise exception using
                errcode = 'integrity_constraint_violation',
                message = format('case %s: id, case_no, received_at and created_at are immutable', old.case_no);
        end if;
        if new.version <> old.version + 1 then
            raise exception using
                errcode = 'integrity_constraint_violation',
                message = format('case %s: version must go from %s to %s, not %s',
                                 old.case_no, old.version, old.version + 1, new.version);
        end if;
        new.updated_at := now();
    end if;
    if tg_op = 'INSERT' or new.region_code <> old.region_code or new.tier <> old.tier then
        select tier into region_tier from regions where code = new.region_code;
        if found and new.tier > region_tier then
            raise exception using
                errcode = 'check_violation',
                message = format('case %s: tier %s is below its region %s (tier %s)',
                                 new.case_no, new.tier, new.region_code, region_tier);
        end if;
    end if;
    return new;
end $$;
comment on function cases_guard() is
    'Trigger on cases: immutable identity, version + 1 on every update, updated_at = now(), tier not below the region, no deletes.';

create trigger cases_guard
    before insert or update or delete on cases
    for each row execute function cases_guard();

-- ---------------------------------------------------------------------------------------
create table case_units (
    id             bigserial   primary key,
    case_id        uuid        not null references cases (id),
    unit_id        bigint      not null references units (id),
    role           text        not null,
    assigned_at    timestamptz not null default now(),
    signed_at      timestamptz,
    released_at    timestamptz,
    release_reason text,

    constraint case_units_role check (role in ('lead', 'co')),
    constraint case_units_release_reason
        check (release_reason in ('returned', 'reassigned', 'escalated', 'handed_down', 'terminated')),
    constraint case_units_released_with_reason check ((released_at is null) = (release_reason is null)),
    constraint case_units_signed_after_assigned check (signed_at >= assigned_at),
    constraint case_units_released_after_assigned check (released_at >= assigned_at)
);

comment on table case_units is
    'Which units hold a case, as lead (牵头/首接) or co-handler (协办/配合), over time. A row is released (not deleted) when the unit returns the case or the case moves on; cases.lead_unit_id mirrors the active lead row and is written in the same transaction.';
comment on column case_units.signed_at is 'When the unit signed for the case (签收); the sign-for deadline is measured from assigned_at.';
comment on column case_units.released_at is 'When the unit stopped being responsible; NULL while it holds the case.';
comment on column case_units.release_reason is 'returned (退件), reassigned by the centre, escalated to another tier, handed_down to a lower tier, or terminated.';

-- One active lead per case (首接负责), and a unit holds a case at most once at a time.
create unique index case_units_one_active_lead on case_units (case_id) where role = 'lead' and released_at is null;
create unique index case_units_active_once on case_units (case_id, unit_id) where released_at is null;
create index case_units_case on case_units (case_id, assigned_at);
-- A unit's worklist, and per-unit reports over any period.
create index case_units_unit_active on case_units (unit_id, assigned_at) where released_at is null;
create index case_units_unit on case_units (unit_id, assigned_at);

-- ---------------------------------------------------------------------------------------
create table case_attachments (
    id           bigserial   primary key,
    case_id      uuid        not null references cases (id),
    sha256       bytea       not null,
    file_name    text        not null,
    media_type   text        not null,
    size_bytes   bigint      not null,
    storage_key  text        not null,
    uploaded_by  bigint      references principals (id),
    uploaded_at  timestamptz not null default now(),

    unique (case_id, sha256),
    constraint case_attachments_sha256 check (octet_length(sha256) = 32),
    constraint case_attachments_file_name
        check (char_length(file_name) between 1 and 255 and file_name !~ '[/\\[:cntrl:]]'),
    constraint case_attachments_media_type check (media_type ~ '^[a-z]+/[A-Za-z0-9][A-Za-z0-9.+-]*$'),
    constraint case_attachments_size check (size_bytes between 0 and 1073741824),
    constraint case_attachments_storage_key check (char_length(storage_key) between 1 and 1024)
);

comment on table case_attachments is
    'Files attached to a case (registration material, transfer letters, approvals, replies): metadata only; the bytes live in object storage under storage_key. Part of the archived dossier (归档).';
comment on column case_attachments.sha256 is 'SHA-256 of the content: proves the archived file is the one submitted, and makes re-uploading the same file to a case a no-op.';
comment on column case_attachments.storage_key is 'Where the bytes are in object storage; opaque to the database.';
comment on column case_attachments.uploaded_by is 'The principal who uploaded it; NULL when a daemon imported it.';
