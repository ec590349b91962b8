-- 0014_revisit.sql — what the revisit daemon (jiesu-revisit, issue 6) keeps: the supervision
-- office's revisit tasks and every call made on them, the look-back samples (回头看), the
-- bulletin entries (通报) a redo or a finding brings, the unsatisfied review forms units sign
-- (不满意诉求审核反馈表, seed 004), the leads referred to discipline inspection (线索移送),
-- the notices issued for claimed contacts that did not happen, the nominations and opt-outs
-- of the 直通车 meeting list (seed 002), and the closed cases waiting to be archived.
--
-- The case itself moves only through common/casestore (cases + case_events + outbox in one
-- transaction); these tables hold what the revisit adds around it, written in the same
-- transaction as the case change and the events that announce it. Nothing here is deleted:
-- a task ends done or cancelled, a form is submitted, a referral received.
-- Applied by the migration runner in one transaction.

-- ---------------------------------------------------------------------------------------
-- Look-back samples: the draw is reproducible from what is stored — the seed, the rate, the
-- population (cases closed in the period in the region under its profile, whose ids hash to
-- population_sha256) and the rule in `algorithm` — so an auditor can repeat it.
create table revisit_samples (
    id                bigserial   primary key,
    region_code       text        not null references regions (code),
    profile           text        not null,
    period_from       timestamptz not null,
    period_to         timestamptz not null,
    rate_percent      smallint    not null,
    seed              text        not null,
    algorithm         text        not null,
    population        int         not null,
    population_sha256 text        not null,
    selected          uuid[]      not null,
    drawn_by          bigint      references principals (id),
    drawn_at          timestamptz not null default now(),

    constraint revisit_samples_period check (period_to > period_from),
    constraint revisit_samples_rate check (rate_percent between 1 and 100),
    constraint revisit_samples_seed check (seed ~ '^[0-9a-f]{16,64}$'),
    constraint revisit_samples_population check (population >= 0 and cardinality(selected) <= population),
    constraint revisit_samples_digest check (population_sha256 ~ '^[0-9a-f]{64}$'),
    -- one draw per region and period: the monthly job runs again without drawing twice
    constraint revisit_samples_once unique (region_code, period_from, period_to)
);
comment on table revisit_samples is
    'Look-back samples (回头看, seed 003): the closed cases of a period drawn for a second call at the profile''s revisit.lookback_percent. Reproducible: rank every case of the population by sha256(seed || '':'' || case id) and take the ceil(population × rate / 100) smallest.';
comment on column revisit_samples.population_sha256 is 'SHA-256 of the population''s case ids, sorted, joined by a newline: proves which cases the draw was made from.';
comment on column revisit_samples.drawn_by is 'The supervisor who drew it; NULL when the monthly job did.';

-- ---------------------------------------------------------------------------------------
create table revisit_tasks (
    id               uuid        primary key default gen_random_uuid(),
    case_id          uuid        not null references cases (id),
    kind             text        not null,
    handling_round   smallint    not null,
    unit_id          bigint      references units (id),
    region_code      text        not null references regions (code),
    profile          text,
    source_event_id  uuid        unique,
    sample_id        bigint      references revisit_samples (id),
    result_at        timestamptz not null,
    due_at           timestamptz,
    due_problem      text,
    state            text        not null default 'open',
    outcome          text,
    attempts         smallint    not null default 0,
    version          int         not null default 1,
    contact_disputed boolean     not null default false,
    created_at       timestamptz not null default now(),
    done_at          timestamptz,

    constraint revisit_tasks_kind check (kind in ('routine', 'lookback')),
    constraint revisit_tasks_round check (handling_round between 1 and 10),
    constraint revisit_tasks_state check (state in ('open', 'done', 'cancelled')),
    constraint revisit_tasks_outcome check (outcome in ('closed', 'redo', 'escalated', 'recorded', 'unreachable', 'cancelled')),
    constraint revisit_tasks_done check ((state = 'open') = (done_at is null) and (state = 'open') = (outcome is null)),
    constraint revisit_tasks_attempts check (attempts between 0 and 10),
    constraint revisit_tasks_version check (version >= 1),
    constraint revisit_tasks_due check ((due_at is null) = (due_problem is not null)),
    constraint revisit_tasks_due_problem check (char_length(due_problem) between 1 and 500),
    constraint revisit_tasks_routine_source check (kind <> 'routine' or source_event_id is not null),
    constraint revisit_tasks_lookback_sample check ((kind = 'lookback') = (sample_id is not null))
);
comment on table revisit_tasks is
    'The supervision office''s revisits (回访): one routine task per submitted result (case.result_submitted), due by the profile''s revisit.window, and one look-back task per sampled closed case. Calls are recorded on them; the task ends when the case closes, goes back for a redo, is escalated, or the look-back is recorded.';
comment on column revisit_tasks.unit_id is 'The unit whose result is revisited (the result''s unit_id).';
comment on column revisit_tasks.result_at is 'When the result was submitted: the start of the revisit clock and the end of the handling time.';
comment on column revisit_tasks.due_problem is 'Why no due instant could be computed (no profile, a calendar year not loaded); never guessed.';
comment on column revisit_tasks.version is 'Bumped by every call: two supervisors recording on one version → one 409.';
comment on column revisit_tasks.contact_disputed is 'An online self-rating denied the unit''s claimed contact: a supervisor must call to verify before anything is concluded.';

-- one open task per case: a case is either waiting for its revisit or for its look-back
create unique index revisit_tasks_one_open on revisit_tasks (case_id) where state = 'open';
-- the supervision office's queue: its regions, soonest due first
create index revisit_tasks_queue on revisit_tasks (region_code, due_at) where state = 'open';
create index revisit_tasks_case on revisit_tasks (case_id, created_at);
create index revisit_tasks_sample on revisit_tasks (sample_id) where sample_id is not null;

-- ---------------------------------------------------------------------------------------
create table revisit_calls (
    id                   uuid        primary key,
    task_id              uuid        not null references revisit_tasks (id),
    case_id              uuid        not null references cases (id),
    handling_round       smallint    not null,
    attempt              smallint    not null,
    source               text        not null,
    channel              text        not null,
    reached              boolean     not null,
    contact_confirmed    boolean,
    contact_verified     boolean,
    disputed_contact_ids uuid[]      not null default '{}',
    fraud                boolean     not null default false,
    result_true          boolean,
    satisfaction         text,
    satisfaction_label   text,
    satisfaction_level   smallint,
    enterprise_words     text,
    unit_fault           text,
    declines_meeting     boolean     not null default false,
    note                 text,
    sampled              boolean     not null,
    outcome              text        not null,
    recorded_by          bigint      references principals (id),
    called_at            timestamptz not null default now(),

    constraint revisit_calls_attempt check (attempt between 1 and 10 and handling_round between 1 and 10),
    constraint revisit_calls_source check (source in ('call', 'self_rating')),
    constraint revisit_calls_channel check (channel in ('phone', 'sms', 'field_visit', 'online_rating')),
    constraint revisit_calls_self_rating_online check ((source = 'self_rating') = (channel = 'online_rating')),
    -- rating is voluntary and only the enterprise rates: nothing is recorded unless it was reached
    constraint revisit_calls_reached_facts check (reached = (contact_confirmed is not null)
        and reached = (contact_verified is not null) and reached = (result_true is not null)
        and reached = (satisfaction is not null)),
    constraint revisit_calls_not_reached_nothing check (reached or (enterprise_words is null
        and unit_fault is null and not declines_meeting and not fraud and cardinality(disputed_contact_ids) = 0)),
    constraint revisit_calls_satisfaction check (satisfaction in ('very_satisfied', 'satisfied', 'basically_satisfied',
                                                                  'unsatisfied', 'very_unsatisfied', 'declined')),
    constraint revisit_calls_level check ((satisfaction_level is null) = (satisfaction is null or satisfaction = 'declined')),
    constraint revisit_calls_words check (char_length(enterprise_words) between 1 and 500),
    constraint revisit_calls_note check (char_length(note) between 1 and 500),
    constraint revisit_calls_fault check (unit_fault in ('buck_passing', 'perfunctory', 'delay')),
    constraint revisit_calls_outcome check (outcome in ('retry', 'closed', 'redo', 'escalated', 'recorded', 'verify')),
    constraint revisit_calls_once unique (task_id, attempt)
);
comment on table revisit_calls is
    'Every revisit attempt (a supervisor''s call or the enterprise''s online self-rating), announced by case.revisit_recorded (id = its event id). enterprise_words is the enterprise''s own words (不满意原因 when unsatisfied) and is personal data: it stays here and in the dossier, never in a log.';
comment on column revisit_calls.contact_confirmed is 'The enterprise confirms the unit contacted it.';
comment on column revisit_calls.contact_verified is 'The unit''s claimed contacts (case.contact_recorded, reached) were confirmed: claims existed, none disputed.';
comment on column revisit_calls.disputed_contact_ids is 'Claimed contact records the enterprise says never happened.';
comment on column revisit_calls.fraud is 'A claimed contact did not happen (seed 004: 未与企业沟通回复却反馈为已沟通): a supervision notice follows when a supervisor recorded it.';
comment on column revisit_calls.satisfaction_label is 'The label on the profile''s own scale (滕州: 比较满意), beside the contract code.';

create index revisit_calls_task on revisit_calls (task_id, attempt);
create index revisit_calls_case on revisit_calls (case_id, called_at);
-- the 直通车 meeting list starts from the revisits that found a case unsolved
create index revisit_calls_unsolved on revisit_calls (case_id)
    where reached and (not result_true or satisfaction in ('unsatisfied', 'very_unsatisfied'));

-- ---------------------------------------------------------------------------------------
create table revisit_bulletin (
    id             bigserial   primary key,
    case_id        uuid        not null references cases (id),
    unit_id        bigint      references units (id),
    region_code    text        not null references regions (code),
    reason         text        not null,
    handling_round smallint    not null,
    call_id        uuid        not null references revisit_calls (id),
    month          date        not null,
    created_at     timestamptz not null default now(),

    constraint revisit_bulletin_reason check (reason in ('unsatisfied', 'result_untrue', 'unsatisfied_again',
                                                         'contact_fraud', 'lookback_unsatisfied', 'lookback_untrue')),
    constraint revisit_bulletin_month check (extract(day from month) = 1),
    constraint revisit_bulletin_once unique (call_id, reason)
);
comment on table revisit_bulletin is
    'Entries for the bulletin (通报, seed 000 并予以通报; seed 004 通报批评): a result sent back as unsatisfied or untrue, unsatisfied again, a claimed contact that did not happen, a look-back that found the case unsolved. The reporting daemon lists them by region and month (Beijing time).';
create index revisit_bulletin_region_month on revisit_bulletin (region_code, month);
create index revisit_bulletin_unit on revisit_bulletin (unit_id, month) where unit_id is not null;

-- ---------------------------------------------------------------------------------------
-- Claimed contacts that did not happen: the supervision notice the revisit issues (level 3
-- 约谈通知书 where the profile has interviews, else level 2), announced by supervision.issued on
-- jiesu.unit-events with notice_id = id.
create table revisit_fraud_notices (
    id           uuid        primary key,
    case_id      uuid        not null references cases (id),
    unit_id      bigint      not null references units (id),
    call_id      uuid        not null unique references revisit_calls (id),
    level        smallint    not null,
    reason_text  text        not null,
    contact_ids  uuid[]      not null,
    reply_due_at timestamptz not null,
    issued_by    bigint      references principals (id),
    issued_at    timestamptz not null default now(),

    constraint revisit_fraud_notices_level check (level in (2, 3)),
    constraint revisit_fraud_notices_text check (char_length(reason_text) between 1 and 500),
    constraint revisit_fraud_notices_reply check (reply_due_at >= issued_at)
);
comment on table revisit_fraud_notices is
    'Supervision notices issued by the revisit for a claimed contact that did not happen (fraud, 弄虚作假): level 3 where the profile has interviews (supervision.interview), else 2.';
create index revisit_fraud_notices_unit on revisit_fraud_notices (unit_id, issued_at);

-- ---------------------------------------------------------------------------------------
create table review_forms (
    id                   uuid        primary key,
    case_id              uuid        not null references cases (id),
    unit_id              bigint      not null references units (id),
    region_code          text        not null references regions (code),
    handling_rounds      smallint    not null,
    call_id              uuid        not null references revisit_calls (id),
    state                text        not null default 'requested',
    requested_at         timestamptz not null default now(),
    explanation          text,
    unsatisfied_analysis text,
    next_steps           text,
    head_name            text,
    seal_affixed         boolean,
    submitted_by         bigint      references principals (id),
    submitted_at         timestamptz,

    constraint review_forms_state check (state in ('requested', 'submitted')),
    constraint review_forms_submitted check ((state = 'submitted') = (submitted_at is not null)
        and (state = 'submitted') = (explanation is not null) and (state = 'submitted') = (head_name is not null)
        and (state = 'submitted') = (seal_affixed is not null)),
    constraint review_forms_seal check (seal_affixed),
    constraint review_forms_explanation check (char_length(explanation) between 1 and 2000),
    constraint review_forms_analysis check (char_length(unsatisfied_analysis) between 1 and 1000),
    constraint review_forms_next_steps check (char_length(next_steps) between 1 and 500),
    constraint review_forms_head check (char_length(head_name) between 1 and 50),
    constraint review_forms_rounds check (handling_rounds between 2 and 10),
    constraint review_forms_once unique (case_id, handling_rounds)
);
comment on table review_forms is
    'The unsatisfied review form (企业诉求“接诉即办”不满意诉求审核反馈表, seed 004 二(四)3): requested from the unit when a case is unsatisfied after two handlings and escalated; the unit fills it in, its principal head signs it and the seal is affixed, and it goes to the centre.';
create index review_forms_unit on review_forms (unit_id, requested_at);
create index review_forms_region on review_forms (region_code, requested_at);

-- ---------------------------------------------------------------------------------------
create table discipline_referrals (
    id          uuid        primary key,
    case_id     uuid        not null references cases (id),
    unit_id     bigint      not null references units (id),
    region_code text        not null references regions (code),
    basis       text        not null,
    detail      text        not null,
    call_id     uuid        not null references revisit_calls (id),
    state       text        not null default 'pending',
    created_at  timestamptz not null default now(),
    received_by bigint      references principals (id),
    received_at timestamptz,

    constraint discipline_referrals_basis check (basis in ('contact_fraud', 'buck_passing', 'perfunctory', 'delay')),
    constraint discipline_referrals_detail check (char_length(detail) between 1 and 1000),
    constraint discipline_referrals_state check (state in ('pending', 'received')),
    constraint discipline_referrals_received check ((state = 'received') = (received_at is not null)),
    constraint discipline_referrals_once unique (case_id, basis)
);
comment on table discipline_referrals is
    'Leads referred to discipline inspection (线索移送 to 纪委监委, seeds 000 四(六) and 003 四(六)): where the profile refers leads and the unit was at fault — a claimed contact that did not happen, or unsatisfied again after a second handling through buck-passing, perfunctoriness or delay.';
create index discipline_referrals_queue on discipline_referrals (region_code, created_at) where state = 'pending';

-- ---------------------------------------------------------------------------------------
create table meeting_nominations (
    id           bigserial   primary key,
    case_id      uuid        not null references cases (id),
    mark         text        not null,
    note         text,
    marked_by    bigint      references principals (id),
    created_at   timestamptz not null default now(),

    constraint meeting_nominations_mark check (mark in ('typical_suggestion', 'leader_instruction', 'enterprise_declined')),
    constraint meeting_nominations_note check (char_length(note) between 1 and 500),
    constraint meeting_nominations_once unique (case_id, mark)
);
comment on table meeting_nominations is
    'What the data cannot tell for the 直通车 meeting list (seed 002 四): a suggestion nominated as typical (criterion 3), a leader''s instruction (criterion 4), and the enterprise''s own request not to go to the meeting (exclusion 4).';

-- ---------------------------------------------------------------------------------------
create table revisit_archive_queue (
    case_id        uuid        primary key references cases (id),
    region_code    text        not null references regions (code),
    final_state    text        not null,
    closed_at      timestamptz not null,
    archive_due_at timestamptz,
    due_problem    text,
    archived_at    timestamptz,
    dossier_id     uuid,

    constraint revisit_archive_final check (final_state in ('closed', 'terminated')),
    constraint revisit_archive_due check ((archive_due_at is null) = (due_problem is not null)),
    constraint revisit_archive_done check ((archived_at is null) = (dossier_id is null))
);
comment on table revisit_archive_queue is
    'Closed cases (case.closed, case.terminated) waiting to be archived (归档) once the profile''s archive.after has passed; the revisit archives them (case.archived) unless a look-back is still open.';
create index revisit_archive_due on revisit_archive_queue (archive_due_at) where archived_at is null;

-- ---------------------------------------------------------------------------------------
-- A look-back population is the cases closed in a period (a month of a province at most):
-- cases close roughly in time order, so a BRIN on closed_at is tiny and serves the scan.
create index cases_closed_brin on cases using brin (closed_at);

-- ---------------------------------------------------------------------------------------
-- Instants as the API and the event contract spell them: RFC 3339 in China Standard Time.
create function revisit_time_text(t timestamptz) returns text
language sql stable as $$
    select to_char(t at time zone 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS.MS') || '+08:00'
$$;
comment on function revisit_time_text(timestamptz) is
    'RFC 3339 with milliseconds in +08:00 (Asia/Shanghai has no daylight saving): how the revisit answers instants.';
