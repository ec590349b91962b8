-- 0012_dispatch.sql — what the dispatcher needs beyond the core schema: the responsibility
-- catalogue (派单目录 / 职责清单) in versions, each case's routing state, and the records the
-- handling units leave behind — contacts with the enterprise (the evidence the revisit checks),
-- co-handlers' parts, results and extension requests.
--
-- The catalogue says, for a matter type and a region, which unit leads (首接负责), which units
-- co-handle and at which tier. An entry applies to its region and every region below it unless
-- a more specific entry exists. Every import is a new, complete version; versions are never
-- changed afterwards, because each case records the version that routed it and a dossier must
-- be able to show why a case went where it went. Version 1 is the empty catalogue, so a centre
-- can dispatch by hand before anything is imported.
-- Applied by the migration runner in one transaction.

-- ---------------------------------------------------------------------------------------
create table catalogue_versions (
    version     int         primary key,
    source      text        not null,
    sha256      text        not null,
    entries     int         not null,
    note        text,
    imported_at timestamptz not null default now(),

    constraint catalogue_versions_version_positive check (version >= 1),
    constraint catalogue_versions_source check (char_length(source) between 1 and 500),
    constraint catalogue_versions_sha256 check (sha256 ~ '^[0-9a-f]{64}$'),
    constraint catalogue_versions_entries check (entries >= 0),
    constraint catalogue_versions_note check (char_length(note) between 1 and 500)
);
comment on table catalogue_versions is
    'Versions of the responsibility catalogue (派单目录). The highest version is in force; each import adds one, complete. Append-only: a case names the version that routed it.';
comment on column catalogue_versions.source is 'The file the version was imported from, as given to jiesuctl catalogue import.';
comment on column catalogue_versions.sha256 is 'SHA-256 of the file (hex): a re-import of the same file adds no version.';

insert into catalogue_versions (version, source, sha256, entries, note) values
    (1, 'deploy/migrations/0012_dispatch.sql',
     'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 0,
     'the empty catalogue: every accepted case waits in its centre''s queue until a catalogue is imported');

create table catalogue_entries (
    version      int         not null references catalogue_versions (version),
    matter_type  text        not null,
    region_code  text        not null references regions (code),
    tier         smallint    not null,
    lead_unit_id bigint      not null references units (id),
    co_unit_ids  bigint[]    not null default '{}',
    dispatch     text        not null default 'auto',
    basis        text,
    line         int         not null,

    primary key (version, matter_type, region_code),
    constraint catalogue_entries_matter_type check (btrim(matter_type) <> '' and char_length(matter_type) <= 64),
    constraint catalogue_entries_tier check (tier between 1 and 4),
    constraint catalogue_entries_co_count check (cardinality(co_unit_ids) <= 20),
    constraint catalogue_entries_lead_not_co check (not (lead_unit_id = any (co_unit_ids))),
    constraint catalogue_entries_dispatch check (dispatch in ('auto', 'centre')),
    constraint catalogue_entries_basis check (char_length(basis) between 1 and 200),
    constraint catalogue_entries_line check (line >= 1)
);
comment on table catalogue_entries is
    'One row of a catalogue version: matter type × region → lead unit, co-handlers, handling tier. Applies to region_code and every region below it unless a more specific entry of the same version exists.';
comment on column catalogue_entries.tier is 'Handling tier: the tier of the lead unit''s region (1 province … 4 township). A case dispatched by this entry is then handled at this tier.';
comment on column catalogue_entries.co_unit_ids is 'Co-handling units (协办/配合单位). Checked against units at import; units are never deleted, so the ids stay valid.';
comment on column catalogue_entries.dispatch is 'auto: the dispatcher dispatches by itself; centre: the entry is the usual answer but the centre confirms (remits that are often disputed).';
comment on column catalogue_entries.basis is 'The duty or regulation that assigns the matter (职责依据 / 适用法律法规), shown on the assignment form.';
comment on column catalogue_entries.line is 'Line (CSV) or entry number (JSON) in the imported file.';

create trigger catalogue_versions_append_only
    before update or delete or truncate on catalogue_versions
    for each statement execute function reject_change('catalogue versions are never changed; import a new version');
create trigger catalogue_entries_append_only
    before update or delete or truncate on catalogue_entries
    for each statement execute function reject_change('catalogue versions are never changed; import a new version');

-- ---------------------------------------------------------------------------------------
create table case_dispatch (
    case_id           uuid        primary key references cases (id),
    matter_type       text        not null,
    catalogue_version int         references catalogue_versions (version),
    route_basis       text,
    queue             text,
    queue_reason      text,
    queued_at         timestamptz,
    attempts          int         not null default 0,
    returns           int         not null default 0,
    remit_decided_at  timestamptz,
    dispatched_at     timestamptz,
    sign_by           timestamptz,
    resolve_by        timestamptz,
    resolve_window    text,
    agreed_at         timestamptz,
    ext_granted       int         not null default 0,
    ext_count         int         not null default 0,
    handling_round    int         not null default 1,
    updated_at        timestamptz not null default now(),

    constraint case_dispatch_matter_type check (btrim(matter_type) <> '' and char_length(matter_type) <= 64),
    constraint case_dispatch_route_basis check (route_basis in ('catalogue', 'centre_decision', 'joint_meeting')),
    constraint case_dispatch_queue check (queue in ('awaiting', 'returned', 'disputed', 'escalated', 'handed_down')),
    constraint case_dispatch_queued_iff_queue check ((queue is null) = (queued_at is null)),
    constraint case_dispatch_reason_with_queue check (queue is not null or queue_reason is null),
    constraint case_dispatch_counts check (attempts between 0 and 100 and returns >= 0 and ext_granted >= 0
                                           and ext_count >= 0 and handling_round between 1 and 10),
    constraint case_dispatch_resolve_window check (char_length(resolve_window) between 1 and 40)
);
comment on table case_dispatch is
    'The dispatcher''s per-case routing state, written only in the transaction of a case transition (case row locked first): the matter type, the catalogue version that routed it, whether it waits in a centre''s queue and why, the sign-for and resolve-by deadlines in force, extensions granted and the handling round.';
comment on column case_dispatch.queue is 'Set while the case waits for a centre decision: awaiting (never routed or no unambiguous entry), returned, disputed (returned more than once), escalated, handed_down. NULL otherwise.';
comment on column case_dispatch.queue_reason is 'Why it waits: no_catalogue_entry, centre_decides, complex, lead_unit_inactive, no_entry_at_tier, lead_returned_it, no_deadline, …';
comment on column case_dispatch.remit_decided_at is 'When the centre decided the remit (确责); from then on the units may not return the case.';
comment on column case_dispatch.resolve_window is 'The resolve-by window of the policy profile at dispatch, as the profile spells it ("10wd"), or the agreed window once agreed; extensions are counted in its unit.';
comment on column case_dispatch.ext_granted is 'Extensions granted so far, in the unit of resolve_window (working days, days or hours).';

create index case_dispatch_queue on case_dispatch (queue, queued_at) where queue is not null;

-- ---------------------------------------------------------------------------------------
create table case_contacts (
    id                 uuid        primary key default gen_random_uuid(),
    case_id            uuid        not null references cases (id),
    unit_id            bigint      not null references units (id),
    staff_principal_id bigint      not null references principals (id),
    contacted_at       timestamptz not null,
    channel            text        not null,
    person             text        not null,
    phone              text,
    reached            boolean     not null,
    first_contact      boolean     not null,
    note               text,
    recorded_at        timestamptz not null default now(),

    constraint case_contacts_channel check (channel in ('phone', 'sms', 'in_person', 'field_visit', 'video',
                                                        'online_message', 'email')),
    constraint case_contacts_person check (btrim(person) <> '' and char_length(person) <= 50),
    constraint case_contacts_phone check (phone ~ '^[0-9+() -]{3,32}$'),
    constraint case_contacts_note check (char_length(note) between 1 and 500),
    constraint case_contacts_not_in_future check (contacted_at <= recorded_at + interval '5 minutes')
);
comment on table case_contacts is
    'Contacts of a handling unit with the enterprise: when, how, who at the enterprise and which staff member. The evidence the revisit checks (claimed contact that did not happen is fraud, seed 004). Append-only; case.contact_recorded names the row.';
comment on column case_contacts.person is 'The person at the enterprise who was contacted (personal data: never in events or logs).';
create index case_contacts_case on case_contacts (case_id, contacted_at);
create trigger case_contacts_append_only
    before update or delete or truncate on case_contacts
    for each statement execute function reject_change('contact records are evidence');

create table case_parts (
    id             uuid        primary key default gen_random_uuid(),
    case_id        uuid        not null references cases (id),
    unit_id        bigint      not null references units (id),
    lead_unit_id   bigint      not null references units (id),
    handling_round int         not null,
    summary        text        not null,
    attachment_ids uuid[]      not null default '{}',
    submitted_by   bigint      references principals (id),
    submitted_at   timestamptz not null default now(),

    constraint case_parts_summary check (btrim(summary) <> '' and char_length(summary) <= 2000),
    constraint case_parts_round check (handling_round between 1 and 10),
    constraint case_parts_not_lead check (unit_id <> lead_unit_id)
);
comment on table case_parts is
    'Co-handlers'' parts (协办反馈), submitted to the lead unit, whose result includes those of its round. Append-only; a later part of the same unit and round supersedes an earlier one.';
create index case_parts_case on case_parts (case_id, handling_round, submitted_at);
create trigger case_parts_append_only
    before update or delete or truncate on case_parts
    for each statement execute function reject_change('parts are part of the dossier');

create table case_results (
    case_id         uuid        not null references cases (id),
    handling_round  int         not null,
    unit_id         bigint      not null references units (id),
    finding         text        not null,
    measures        text        not null,
    how_told        text        not null,
    told_at         timestamptz not null,
    within_deadline boolean     not null,
    part_ids        uuid[]      not null default '{}',
    attachment_ids  uuid[]      not null default '{}',
    submitted_by    bigint      references principals (id),
    submitted_at    timestamptz not null default now(),

    primary key (case_id, handling_round),
    constraint case_results_finding check (finding in ('true', 'partly_true', 'untrue')),
    constraint case_results_measures check (btrim(measures) <> '' and char_length(measures) <= 2000),
    constraint case_results_how_told check (how_told in ('phone', 'sms', 'in_person', 'letter', 'online', 'email')),
    constraint case_results_round check (handling_round between 1 and 10)
);
comment on table case_results is
    'The lead unit''s result per handling round (承办单: 属实/部分属实/不属实, the measures, how the enterprise was told), naming the co-handlers'' parts it combines. Append-only.';
create trigger case_results_append_only
    before update or delete or truncate on case_results
    for each statement execute function reject_change('results are part of the dossier');

create table case_extensions (
    request_id          uuid        primary key,
    case_id             uuid        not null references cases (id),
    unit_id             bigint      not null references units (id),
    requested_by        bigint      references principals (id),
    requested_at        timestamptz not null default now(),
    current_due_at      timestamptz not null,
    requested_due_at    timestamptz not null,
    extend_by           int         not null,
    reason_text         text        not null,
    enterprise_informed boolean     not null,
    decision            text,
    decided_by          bigint      references principals (id),
    decided_at          timestamptz,
    decision_text       text,

    constraint case_extensions_later check (requested_due_at > current_due_at),
    constraint case_extensions_extend_by check (extend_by between 1 and 1000),
    constraint case_extensions_reason check (btrim(reason_text) <> '' and char_length(reason_text) <= 500),
    constraint case_extensions_decision check (decision in ('approved', 'rejected')),
    constraint case_extensions_decided check ((decision is null) = (decided_at is null)),
    constraint case_extensions_decision_text check (char_length(decision_text) between 1 and 500)
);
comment on table case_extensions is
    'Extension requests (申请延期) and the centre''s decisions. extend_by is in the unit of the case''s resolve-by window; at most one request per case is pending.';
create unique index case_extensions_one_pending on case_extensions (case_id) where decision is null;
create index case_extensions_case on case_extensions (case_id, requested_at);
