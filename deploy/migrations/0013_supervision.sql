-- 0013_supervision.sql — what the deadline watcher needs beyond the timers of 0004: the
-- warning half of each clock, the responsible unit, clocks of supervision notices that concern
-- no case, paused clocks, supervision notices (督办单) and cards (亮牌), the flags an operator
-- must see when a deadline could not be computed, and the monthly review's list.
--
-- The watcher keeps PostgreSQL as the truth and Redis as a schedule it can rebuild: every
-- column it needs to decide whether a timer fires, warns or waits is here, and every effect it
-- has (a notice, a card, a flag) is a row written in the same transaction as the timer's own
-- update and the events that announce it. 0004's rule still holds: re-arming a clock marks the
-- armed generation stale before inserting version + 1.
-- Applied by the migration runner in one transaction.

-- ---------------------------------------------------------------------------------------
-- Supervision notices (督办单): level 1 reminder letter 提醒敦促函, level 2 rectification
-- notice 整改通知书 (挂牌督办, listed in the monthly bulletin), level 3 interview notice 约谈通知书.
create sequence supervision_notice_seq;

create table supervision_notices (
    id              uuid        primary key,
    notice_no       text        not null unique,
    level           smallint    not null,
    unit_id         bigint      not null references units (id),
    case_id         uuid        references cases (id),
    reason_code     text        not null,
    reason_text     text        not null,
    issued_at       timestamptz not null default now(),
    reply_due_at    timestamptz not null,
    replied_at      timestamptz,
    reply_text      text,
    replied_by      bigint      references principals (id),
    in_bulletin     boolean     not null default false,
    issued_by       bigint      references principals (id),
    issuer_unit_id  bigint      references units (id),
    source_timer_id bigint      references timers (id),

    constraint supervision_notices_level check (level between 1 and 3),
    constraint supervision_notices_reason check (reason_code in (
        'not_signed', 'overdue', 'repeated_unhandled', 'buck_passing', 'repeated_unsatisfied',
        'improper_closing', 'fraud', 'violation', 'dereliction', 'rule_breach', 'retaliation')),
    constraint supervision_notices_reason_text check (btrim(reason_text) <> '' and char_length(reason_text) <= 500),
    constraint supervision_notices_reply_after_issue check (reply_due_at >= issued_at),
    constraint supervision_notices_replied check ((replied_at is null) = (reply_text is null)),
    constraint supervision_notices_reply_text check (char_length(reply_text) between 1 and 2000),
    -- A breach that fires again (a retried transaction, a second instance) issues nothing new.
    constraint supervision_notices_once_per_breach unique (source_timer_id, level)
);

comment on table supervision_notices is
    'Supervision notices (督办单) issued to units: level 1 reminder letter (提醒敦促函), 2 rectification notice (整改通知书, 挂牌督办), 3 interview notice (约谈通知书). Issued by the deadline watcher on breaches and repeated unsatisfied results, or by a supervisor. Announced by supervision.issued on jiesu.unit-events in the same transaction.';
comment on column supervision_notices.notice_no is 'The number printed on the notice (编号), DB-<year>-<serial>.';
comment on column supervision_notices.case_id is 'The case concerned, when the notice is about one case.';
comment on column supervision_notices.reply_due_at is 'The unit must report back by this instant (seed 003: 请于5日内反馈); a supervision_reply timer enforces it.';
comment on column supervision_notices.in_bulletin is 'Listed in the monthly bulletin (rectification notices where the profile says so).';
comment on column supervision_notices.issued_by is 'The supervisor who issued it; NULL when the watcher issued it on a breach.';
comment on column supervision_notices.issuer_unit_id is 'The centre in whose name the notice is issued (printed on it).';
comment on column supervision_notices.source_timer_id is 'The breached timer that triggered it, when one did.';

create index supervision_notices_unit on supervision_notices (unit_id, issued_at);
create index supervision_notices_case on supervision_notices (case_id) where case_id is not null;
create index supervision_notices_bulletin on supervision_notices (issued_at) where in_bulletin;

-- ---------------------------------------------------------------------------------------
-- The timers of 0004, extended. A supervision notice's reply clock concerns a unit, not
-- necessarily a case, so case_id becomes optional for exactly that kind.
alter table timers alter column case_id drop not null;
alter table timers add column unit_id bigint references units (id);
alter table timers add column notice_id uuid references supervision_notices (id);
alter table timers add column warned_at timestamptz;
alter table timers add column warn_lateness_ms bigint;
alter table timers add column clock_unit text not null default 'wd';
alter table timers add column paused_at timestamptz;

alter table timers add constraint timers_case_or_notice
    check ((kind = 'supervision_reply') = (notice_id is not null) and (case_id is not null or notice_id is not null));
alter table timers add constraint timers_reply_has_no_case
    check (notice_id is null or case_id is null);
alter table timers add constraint timers_clock_unit check (clock_unit in ('wd', 'd', 'h'));
alter table timers add constraint timers_warned_once check (warned_at is null or warn_at is not null);
alter table timers add constraint timers_warn_lateness check ((warn_lateness_ms is null) = (warned_at is null) and warn_lateness_ms >= 0);
alter table timers add constraint timers_lateness_positive check (lateness_ms >= 0);

comment on column timers.case_id is 'The case whose clock this is; NULL only for a supervision notice''s reply clock (notice_id), which concerns a unit.';
comment on column timers.unit_id is 'The unit that must act before due_at (the lead unit, the unit supervised); NULL when no unit is (the revisit is the supervision office''s).';
comment on column timers.notice_id is 'For supervision_reply: the notice whose reply is due.';
comment on column timers.warned_at is 'When the watcher sent the warning (timer.warned); NULL until then, and for timers without a warning.';
comment on column timers.warn_lateness_ms is 'warned_at − warn_at in milliseconds: how late the warning went out.';
comment on column timers.clock_unit is 'How the clock counts (wd working days, d calendar days, h clock hours): what a paused interval gives back.';
comment on column timers.paused_at is 'Set while the clock is paused (clock_pauses); a paused timer neither warns nor fires.';

-- One generation per notice and version; one armed reply clock per notice.
create unique index timers_notice_version on timers (notice_id, version) where notice_id is not null;
create unique index timers_one_armed_notice on timers (notice_id) where state = 'armed' and notice_id is not null;
-- The watcher's catch-up scan for warnings Redis did not deliver.
create index timers_armed_warn on timers (warn_at) where state = 'armed' and warned_at is null;
-- Breaches per unit (repeated breaches, unsigned counts), newest first.
create index timers_unit_fired on timers (unit_id, fired_at) where state = 'fired' and unit_id is not null;

-- ---------------------------------------------------------------------------------------
-- Paused clocks: only where the profile allows, with one of its reasons; the paused time is
-- given back to the clock when the pause ends (docs/DEADLINES.md §1.8).
create table clock_pauses (
    id          bigserial   primary key,
    case_id     uuid        not null references cases (id),
    timer_kind  text        not null,
    reason      text        not null,
    note        text,
    started_at  timestamptz not null default now(),
    ended_at    timestamptz,
    started_by  bigint      references principals (id),
    ended_by    bigint      references principals (id),
    due_before  timestamptz not null,
    due_after   timestamptz,

    constraint clock_pauses_kind check (timer_kind in ('resolve_by', 'redo_by')),
    constraint clock_pauses_reason check (reason in ('awaiting_materials', 'enterprise_request',
                                                     'third_party_procedure', 'force_majeure')),
    constraint clock_pauses_note check (char_length(note) between 1 and 500),
    constraint clock_pauses_order check (ended_at > started_at),
    constraint clock_pauses_due_after check ((ended_at is null) = (due_after is null))
);

comment on table clock_pauses is
    'Pauses of a handling clock (resolve_by, redo_by) where the policy profile allows them, with the reason; due_before / due_after show the deadline before the pause and after the paused time was given back.';

create unique index clock_pauses_one_open on clock_pauses (case_id, timer_kind) where ended_at is null;
create index clock_pauses_case on clock_pauses (case_id, started_at);

-- ---------------------------------------------------------------------------------------
-- Cards (seed 004): a missed reporting deadline is a yellow card; red_after_yellows yellows in
-- a row a red card and an interview of the deputy head; principal_after_reds reds in a row an
-- interview of the principal head.
create table unit_cards (
    id              uuid        primary key,
    unit_id         bigint      not null references units (id),
    colour          text        not null,
    consecutive     smallint    not null,
    interview_of    text        not null,
    reason_code     text        not null,
    reason_text     text        not null,
    case_id         uuid        references cases (id),
    source_timer_id bigint      references timers (id),
    issued_at       timestamptz not null default now(),

    constraint unit_cards_colour check (colour in ('yellow', 'red')),
    constraint unit_cards_consecutive check (consecutive between 1 and 100),
    constraint unit_cards_interview check (interview_of in ('none', 'deputy_head', 'principal_head')),
    constraint unit_cards_reason check (reason_code in ('missed_feedback_deadline', 'consecutive_yellow', 'consecutive_red')),
    constraint unit_cards_reason_text check (btrim(reason_text) <> '' and char_length(reason_text) <= 500),
    constraint unit_cards_once_per_breach unique (source_timer_id, colour)
);

comment on table unit_cards is
    'Yellow and red cards shown to units (seed 004 红黄绿牌), announced by card.issued on jiesu.unit-events in the same transaction.';

create index unit_cards_unit on unit_cards (unit_id, issued_at);

-- How many cards of each colour a unit has had in a row: an on-time report breaks the run.
create table unit_card_runs (
    unit_id     bigint      primary key references units (id),
    yellow_run  smallint    not null default 0,
    red_run     smallint    not null default 0,
    updated_at  timestamptz not null default now(),

    constraint unit_card_runs_range check (yellow_run between 0 and 100 and red_run between 0 and 100)
);

comment on table unit_card_runs is
    'Per unit, the yellow and red cards received in a row (no on-time report in between). Read and updated under a row lock when a card is decided.';

-- ---------------------------------------------------------------------------------------
-- A deadline the watcher could not compute (a year with no calendar, a region without a
-- profile) is never guessed: the case is flagged here, the operator sees it (log, metric,
-- GET /v1/deadline-flags, reports), and the watcher retries when the calendar changes.
create table deadline_flags (
    id          bigserial   primary key,
    case_id     uuid        references cases (id),
    notice_id   uuid        references supervision_notices (id),
    timer_kind  text        not null,
    problem     text        not null,
    year        smallint,
    detail      text        not null,
    facts       jsonb       not null default '{}',
    raised_at   timestamptz not null default now(),
    resolved_at timestamptz,
    resolution  text,

    constraint deadline_flags_kind check (timer_kind in ('sign_for', 'first_contact', 'resolve_by', 'weekly_progress',
                                                        'result_to_enterprise', 'revisit_by', 'redo_by',
                                                        'supervision_reply', 'monthly_review')),
    constraint deadline_flags_problem check (problem in ('calendar_missing', 'profile_missing', 'uncomputable')),
    constraint deadline_flags_detail check (btrim(detail) <> '' and char_length(detail) <= 1000),
    constraint deadline_flags_facts check (jsonb_typeof(facts) = 'object'),
    constraint deadline_flags_resolved check ((resolved_at is null) = (resolution is null))
);

comment on table deadline_flags is
    'Deadlines that could not be computed and were not guessed: the case (or notice), the clock, the problem (calendar_missing names the year), and what is needed to arm it once the calendar is loaded. Open while resolved_at is NULL.';

create unique index deadline_flags_open on deadline_flags (coalesce(case_id::text, notice_id::text, ''), timer_kind, problem)
    where resolved_at is null;
create index deadline_flags_year on deadline_flags (year) where resolved_at is null;

-- ---------------------------------------------------------------------------------------
-- Where a region's calendar exceptions of a year come from (a national year keeps its source
-- in calendar_years), so the tables can be written back out as the files they came from.
create table calendar_regional_sources (
    region_code text        not null references regions (code),
    year        smallint    not null references calendar_years (year),
    source      text        not null,
    updated_at  timestamptz not null default now(),

    primary key (region_code, year),
    constraint calendar_regional_sources_source check (btrim(source) <> '' and char_length(source) <= 1000)
);

comment on table calendar_regional_sources is
    'The notice a region''s calendar exceptions of a year come from (a typhoon closure, 壮族三月三), kept so calendar files round-trip through the tables.';

-- ---------------------------------------------------------------------------------------
-- The monthly review (seed 002: on the 25th the open cases seriously late are listed for the
-- key-supervision list). One snapshot per region bound to a profile with a review day.
create table monthly_reviews (
    region_code        text        not null references regions (code),
    month              date        not null,
    review_day         date        not null,
    profile            text        not null,
    seriously_late_wd  smallint    not null,
    generated_at       timestamptz not null default now(),
    cases              jsonb       not null,

    primary key (region_code, month),
    constraint monthly_reviews_month_start check (extract(day from month) = 1),
    constraint monthly_reviews_cases check (jsonb_typeof(cases) = 'array')
);

comment on table monthly_reviews is
    'The monthly review''s list of open cases seriously late (进展严重滞后), taken once on the profile''s review day, for the key-supervision list (重点督办).';
