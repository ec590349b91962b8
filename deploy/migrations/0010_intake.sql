-- 0010_intake.sql — what intake needs beyond the core schema: idempotent submissions, the
-- text signatures used to link duplicates, certified termination, the policy library.
-- Applied by the migration runner in one transaction.

-- A retried submission (same principal, same Idempotency-Key) must create one case and get
-- the same answer back. The answer is stored with the case, in the same transaction.
create table idempotency_keys (
    principal_id   bigint      not null references principals (id),
    idem_key       text        not null,
    request_sha256 bytea       not null,
    case_id        uuid        references cases (id),
    status         smallint    not null,
    response       jsonb       not null,
    created_at     timestamptz not null default now(),

    primary key (principal_id, idem_key),
    constraint idempotency_keys_key_format check (idem_key ~ '^[\x21-\x7e]{1,128}$'),
    constraint idempotency_keys_request_sha256 check (octet_length(request_sha256) = 32),
    constraint idempotency_keys_status check (status between 200 and 599)
);
comment on table idempotency_keys is
    'Answers to submissions that carried an Idempotency-Key, per principal: a retry with the same key and the same body gets the stored answer; the same key with another body is refused. Rows older than the retention window (intake config) are purged, which also bounds how long a tracking code sits here in clear.';
create index idempotency_keys_created on idempotency_keys using brin (created_at);

-- Duplicate detection compares the new appeal's text with the open cases of the same
-- enterprise; the signature (common/textsim.c) is computed once, at registration.
alter table cases add column text_sig text;
comment on column cases.text_sig is 'Character-bigram signature of summary + body (common/textsim.c, hex), for linking duplicates (重复件) without re-reading the text.';

-- 终结办理: a concluded matter certified terminated may be refused when re-raised.
alter table cases add column terminated boolean not null default false;
comment on column cases.terminated is 'Certified terminated (终结办理): re-raising the same matter without new facts may be refused (concluded_no_new_facts).';

alter table cases add column submitted_by bigint references principals (id);
comment on column cases.submitted_by is 'The principal who registered the case: the enterprise itself, or the intake agent.';

alter table cases add column review_hints jsonb;
comment on column cases.review_hints is 'What intake noticed for the agent who reviews the case: a suspected emergency, a similar terminated case, matching policy entries.';

-- Events name attachments by uuid (proto: attachment_ids).
alter table case_attachments add column uid uuid not null default gen_random_uuid();
alter table case_attachments add constraint case_attachments_uid unique (uid);

-- 政策库: question/answer entries agents use to answer consultations at once.
create table policy_entries (
    id          bigserial   primary key,
    region_code text        references regions (code),
    title       text        not null,
    question    text        not null,
    answer      text        not null,
    keywords    text[]      not null default '{}',
    source      text,
    text_sig    text        not null,
    active      boolean     not null default true,
    version     int         not null default 1,
    created_by  bigint      references principals (id),
    created_at  timestamptz not null default now(),
    updated_by  bigint      references principals (id),
    updated_at  timestamptz not null default now(),

    constraint policy_entries_title check (btrim(title) <> '' and char_length(title) <= 200),
    constraint policy_entries_question check (btrim(question) <> '' and char_length(question) <= 2000),
    constraint policy_entries_answer check (btrim(answer) <> '' and char_length(answer) <= 5000),
    constraint policy_entries_source check (char_length(source) <= 500),
    constraint policy_entries_keywords check (cardinality(keywords) <= 20),
    constraint policy_entries_version check (version >= 1)
);
comment on table policy_entries is
    'The policy library (政策库): entries agents and enterprises search to answer consultations at once. region_code NULL = the whole deployment; otherwise the region and those below it. Retired, not deleted (active = false), so answers given from an entry stay explainable.';
create index policy_entries_active on policy_entries (region_code) where active;
