-- 0015_reporting.sql — the reporting read models (issue 7): one fact row per case, the measure
-- cube by day and by month, the unit events (cards, supervision notices) as received, and the
-- territory's ancestor map for grouping by region at any tier.
--
-- Everything here is derived: jiesu-reporting maintains it from jiesu.case-events and
-- jiesu.unit-events (idempotently, through consumed_events), and `jiesuctl reporting rebuild`
-- recomputes it from case_events (or from the Kafka topics) with the same C code
-- (common/readmodel.c). Definitions of the measures: docs/MEASURES.md. Nothing else writes
-- these tables, and nothing here is a record of its own except rep_unit_events, which keeps
-- the unit events exactly as they arrived so the unit counters can be rebuilt too.
-- Applied by the migration runner in one transaction.

-- ---------------------------------------------------------------------------------------
create table rep_cases (
    case_id       uuid        primary key,
    case_no       text        not null default '',
    known         boolean     not null default false,
    received_at   timestamptz,
    received_day  date,
    region_code   text        not null default '',
    kind          text        not null default '',
    channel       text        not null default '',
    credit_code   text        not null default '',
    tier          smallint    not null default 0,
    unit_id       bigint      not null default 0,
    state         text        not null default '',
    matter_type   text        not null default '',
    accepted      boolean     not null default false,
    refused       boolean     not null default false,
    duplicate     boolean     not null default false,
    terminated    boolean     not null default false,
    closed        boolean     not null default false,
    solved        boolean     not null default false,
    archived      boolean     not null default false,
    sign_pending  boolean     not null default false,
    sign_by       timestamptz,
    due_at        timestamptz,
    dispatches    int         not null default 0,
    returns       int         not null default 0,
    results       int         not null default 0,
    late_results  int         not null default 0,
    finding       text        not null default '',
    resolved_at   timestamptz,
    closed_at     timestamptz,
    handling_wd   int         not null default -1,
    redo          int         not null default 0,
    revisits      int         not null default 0,
    grade         smallint    not null default 0,
    events        int         not null default 0,
    last_event_at timestamptz,
    open_handling boolean     not null default false
);
comment on table rep_cases is
    'Reporting fact per case, folded from its events by common/readmodel.c (rm_case_t): where it stands, who holds it, its deadlines, results, rating and handling time. Derived; rebuilt by jiesuctl reporting rebuild.';
comment on column rep_cases.known is 'case.received has been seen; a case without it contributes nothing to the measures.';
comment on column rep_cases.received_day is 'Asia/Shanghai date of receipt: the cohort day every measure of the case is counted on.';
comment on column rep_cases.unit_id is 'The lead unit now in charge; 0 while the case waits in a centre''s queue or was never dispatched.';
comment on column rep_cases.tier is 'The tier now responsible (escalation and dispatch change it).';
comment on column rep_cases.sign_pending is 'A dispatch awaits signing or return by sign_by: past it, the dispatch counts as not responded.';
comment on column rep_cases.due_at is 'The handling deadline in force for the current round (resolve-by, agreed, extended, or redo-by).';
comment on column rep_cases.grade is 'Last satisfaction grade from the revisit: 1 非常满意 … 5 非常不满意, 6 declined to rate, 0 none.';
comment on column rep_cases.handling_wd is 'Working days from receipt to the last result, from case.closed; -1 until closed.';
comment on column rep_cases.open_handling is 'Being handled (received, accepted, dispatched, in progress): late once due_at has passed.';

create index rep_cases_day on rep_cases (received_day);
-- the clock-dependent parts of the measures read only these rows
create index rep_cases_open on rep_cases (received_day) where open_handling or sign_pending;
create index rep_cases_unit on rep_cases (unit_id, received_day) where unit_id <> 0;

-- ---------------------------------------------------------------------------------------
-- The measure cube. A cell counts the cases received on `day` in `region_code` now held by
-- `unit_id` at `tier`, of `kind` (the per-dispatch counters count the dispatches to that unit).
-- rep_month holds the same cells summed per month, so a period is read as whole months plus
-- the days at its edges.
create table rep_day (
    day           date        not null,
    region_code   text        not null,
    unit_id       bigint      not null,
    tier          smallint    not null,
    kind          text        not null,
    received      int         not null default 0,
    accepted      int         not null default 0,
    refused       int         not null default 0,
    duplicates    int         not null default 0,
    dispatched    int         not null default 0,
    resp_on_time  int         not null default 0,
    resp_late     int         not null default 0,
    done_on_time  int         not null default 0,
    done_late     int         not null default 0,
    open_handling int         not null default 0,
    closed        int         not null default 0,
    solved        int         not null default 0,
    rated         int         not null default 0,
    g1            int         not null default 0,
    g2            int         not null default 0,
    g3            int         not null default 0,
    g4            int         not null default 0,
    g5            int         not null default 0,
    redo          int         not null default 0,
    timed         int         not null default 0,
    wd_sum        bigint      not null default 0,
    h0            int         not null default 0,
    h1            int         not null default 0,
    h2            int         not null default 0,
    h3            int         not null default 0,
    h4            int         not null default 0,
    h5            int         not null default 0,
    h6            int         not null default 0,
    h7            int         not null default 0,
    h8            int         not null default 0,
    h9            int         not null default 0,
    h10           int         not null default 0,
    h11           int         not null default 0,
    h12           int         not null default 0,
    h13           int         not null default 0,
    h14           int         not null default 0,
    h15           int         not null default 0,
    h16           int         not null default 0,
    h17           int         not null default 0,
    h18           int         not null default 0,
    h19           int         not null default 0,
    h20           int         not null default 0,
    h21           int         not null default 0,
    h22           int         not null default 0,
    h23           int         not null default 0,
    h24           int         not null default 0,
    h25           int         not null default 0,
    h26           int         not null default 0,
    h27           int         not null default 0,
    h28           int         not null default 0,
    h29           int         not null default 0,
    h30           int         not null default 0,
    h31           int         not null default 0,
    h32           int         not null default 0,
    h33           int         not null default 0,
    h34           int         not null default 0,
    h35           int         not null default 0,
    h36           int         not null default 0,
    h37           int         not null default 0,
    h38           int         not null default 0,
    h39           int         not null default 0,
    h40           int         not null default 0,
    h41           int         not null default 0,

    primary key (day, region_code, unit_id, tier, kind)
);
comment on table rep_day is
    'Measure cube by day of receipt × region × unit now in charge × tier × kind (docs/MEASURES.md). h0 … h41 count the closed cases of 0 … 40 working days (h41: 41 or more), the histogram the 90th percentile is read from; columns rather than an array because summing columns is what a province-wide query does most.';

create table rep_month (like rep_day including defaults);
alter table rep_month rename column day to month;
alter table rep_month add primary key (month, region_code, unit_id, tier, kind);
alter table rep_month add constraint rep_month_first_day check (extract(day from month) = 1);
comment on table rep_month is 'rep_day summed per calendar month (month = its first day), plus for each (month, region, tier, kind) a row with unit_id = -1 summing all its units: region-level reports read those (a third of the rows).';

create index rep_day_unit on rep_day (unit_id, day);
create index rep_month_unit on rep_month (unit_id, month);

-- ---------------------------------------------------------------------------------------
create table rep_unit_events (
    event_id    uuid        primary key,
    unit_id     bigint      not null,
    type        text        not null,
    level       smallint,
    colour      text,
    case_id     uuid,
    reason_code text        not null,
    reason_text text        not null,
    occurred_at timestamptz not null,
    day         date        not null,
    payload     jsonb       not null,

    constraint rep_unit_events_type check (type in ('supervision.issued', 'card.issued'))
);
comment on table rep_unit_events is
    'Supervision notices and cards exactly as received on jiesu.unit-events (the raw input of the unit counters, kept so they can be rebuilt, and listed in bulletins, ledgers and dossiers).';
create index rep_unit_events_unit on rep_unit_events (unit_id, day);
create index rep_unit_events_day on rep_unit_events (day);
create index rep_unit_events_case on rep_unit_events (case_id) where case_id is not null;

create table rep_unit_day (
    day     date   not null,
    unit_id bigint not null,
    yellow  int    not null default 0,
    red     int    not null default 0,
    n1      int    not null default 0,
    n2      int    not null default 0,
    n3      int    not null default 0,

    primary key (day, unit_id)
);
comment on table rep_unit_day is 'Cards (yellow, red) and supervision notices by level (n1 reminder, n2 rectification, n3 interview) per unit and day issued.';

-- ---------------------------------------------------------------------------------------
create table rep_state (
    id         boolean     primary key default true,
    hwm        bigint      not null default 0,
    source     text,
    rebuilt_at timestamptz,
    cases      bigint      not null default 0,
    events     bigint      not null default 0,

    constraint rep_state_singleton check (id)
);
comment on table rep_state is
    'The last rebuild: every case_events row with id <= hwm is inside the read models, so the consumer skips those events when Kafka delivers them afterwards.';
insert into rep_state (id) values (true);

-- ---------------------------------------------------------------------------------------
create table rep_regions (
    code text     primary key,
    name text     not null,
    tier smallint not null,
    t1   text,
    t2   text,
    t3   text,
    t4   text
);
comment on table rep_regions is 'Each region with its ancestors at tiers 1–4 (itself at its own tier), for grouping measures by region at any tier. Refreshed from regions by rep_regions_refresh().';

create function rep_regions_refresh() returns bigint
language sql volatile as $$
    with recursive up(code, anc, anc_tier, depth) as (
        select code, code, tier, 0 from regions
        union all
        select up.code, p.code, p.tier, up.depth + 1
          from up join regions r on r.code = up.anc join regions p on p.code = r.parent_code
         where up.depth < 8
    ), m as (
        select up.code,
               max(anc) filter (where anc_tier = 1) as t1, max(anc) filter (where anc_tier = 2) as t2,
               max(anc) filter (where anc_tier = 3) as t3, max(anc) filter (where anc_tier = 4) as t4
          from up group by up.code
    ), ins as (
        insert into rep_regions (code, name, tier, t1, t2, t3, t4)
        select r.code, r.name, r.tier, m.t1, m.t2, m.t3, m.t4 from regions r join m on m.code = r.code
        on conflict (code) do update set name = excluded.name, tier = excluded.tier, t1 = excluded.t1,
            t2 = excluded.t2, t3 = excluded.t3, t4 = excluded.t4
        returning 1
    )
    select count(*) from ins
$$;
comment on function rep_regions_refresh() is 'Fills rep_regions from regions (idempotent); returns the number of regions.';
