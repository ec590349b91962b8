-- 0004_timers.sql — the durable record of every deadline clock.
--
-- Redis holds the live timers the deadline-watcher polls; this table is the truth they are
-- rebuilt from after a Redis loss and the record of how each clock ended (fired, cancelled,
-- or stale because the case moved on). A timer is identified by (case, kind, version):
-- re-arming a clock (an extension, a redo, next week's progress report) marks the old
-- generation stale and inserts the next version, so a late fire of an old generation is
-- recognised and dropped. At most one generation of a kind is armed per case.
-- Applied by the migration runner in one transaction.

create table timers (
    id          bigserial   primary key,
    case_id     uuid        not null references cases (id),
    kind        text        not null,
    version     int         not null,
    due_at      timestamptz not null,
    warn_at     timestamptz,
    state       text        not null default 'armed',
    armed_at    timestamptz not null default now(),
    fired_at    timestamptz,
    lateness_ms bigint,

    unique (case_id, kind, version),
    constraint timers_kind check (kind in ('sign_for', 'first_contact', 'resolve_by', 'weekly_progress',
                                           'result_to_enterprise', 'revisit_by', 'redo_by',
                                           'supervision_reply')),
    constraint timers_version_positive check (version >= 1),
    constraint timers_state check (state in ('armed', 'fired', 'cancelled', 'stale')),
    constraint timers_warn_before_due check (warn_at <= due_at),
    constraint timers_fired_iff_fired_at check ((state = 'fired') = (fired_at is not null)),
    constraint timers_lateness_only_when_fired check (lateness_ms is null or state = 'fired')
);

comment on table timers is
    'Every deadline clock of every case (sign-for, first contact, resolve-by, weekly progress, result to enterprise, revisit, redo, supervision reply) with its outcome. Redis mirrors the armed ones; this is what they are rebuilt from and what on-time rates are computed from.';
comment on column timers.kind is 'Which rule of the policy profile this clock enforces.';
comment on column timers.version is 'Generation of this (case, kind) clock, 1 upward; re-arming inserts version + 1 after marking the previous one stale. The watcher compares it with the Redis entry so an old generation never fires.';
comment on column timers.due_at is 'The instant the clock runs out, already resolved through the working-day calendar (end of the N-th working day, Beijing time).';
comment on column timers.warn_at is 'When to warn before due_at (reminder to the unit); NULL for no warning.';
comment on column timers.state is 'armed (running), fired (ran out and was acted on), cancelled (the step was done in time), stale (replaced by a newer version).';
comment on column timers.armed_at is 'When this generation was armed.';
comment on column timers.fired_at is 'When the watcher acted on it; set exactly when state = fired.';
comment on column timers.lateness_ms is 'fired_at − due_at in milliseconds: how late the watcher was (its own service level, not the unit''s).';

-- The watcher's recovery scan and backlog metric: what is armed, soonest first.
create index timers_armed_due on timers (due_at) where state = 'armed';
-- At most one armed generation per case and kind. Not deferrable on purpose (a deferrable
-- constraint cannot serve ON CONFLICT): mark the old generation stale before inserting
-- the new one.
create unique index timers_one_armed on timers (case_id, kind) where state = 'armed';
