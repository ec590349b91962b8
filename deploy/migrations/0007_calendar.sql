-- 0007_calendar.sql — the working-day calendar as data (DOMAIN.md §4).
--
-- Every deadline counts working days, and which days work is decided each November by the
-- State Council, plus local closures (a typhoon, a local holiday). So the calendar is rows,
-- loadable while the daemons run, not code. Only exceptions are stored: a day absent here
-- is a working day Monday to Friday and a rest day at the weekend. `calendar_years` says
-- which years' national arrangement is loaded, so counting into a year that is not loaded
-- is an error the operators see instead of a silent guess. The 2025 and 2026 arrangements
-- are loaded here from the notices' facts as DOMAIN.md records them.
-- Applied by the migration runner in one transaction.

create table calendar_years (
    year      smallint    primary key,
    source    text        not null,
    loaded_at timestamptz not null default now(),

    constraint calendar_years_range check (year between 2000 and 2999),
    constraint calendar_years_source_not_blank check (btrim(source) <> '')
);

comment on table calendar_years is
    'Years whose national holiday arrangement is loaded. A deadline that reaches into a year not listed here cannot be computed and must be reported, not guessed.';
comment on column calendar_years.source is 'Where the arrangement comes from (the State Council notice).';

create table calendar_days (
    region_code text        references regions (code),
    day         date        not null,
    year        smallint    not null generated always as (extract(year from day)::smallint) stored
                            references calendar_years (year),
    kind        text        not null,
    name        text        not null,
    created_at  timestamptz not null default now(),

    constraint calendar_days_kind check (kind in ('rest', 'work')),
    constraint calendar_days_name_not_blank check (btrim(name) <> '' and char_length(name) <= 100),
    -- A weekday is a working day already; declaring one 'work' can only be a data error.
    constraint calendar_days_work_only_at_weekend check (kind = 'rest' or extract(isodow from day) in (6, 7)),
    constraint calendar_days_once unique nulls not distinct (region_code, day)
);

comment on table calendar_days is
    'Exceptions to the Monday–Friday week: public holidays and closures (rest) and weekend days declared working (work, 调休上班). region_code NULL is the national calendar; a region''s rows override it for that region and everything below it, the nearest region winning.';
comment on column calendar_days.region_code is 'NULL for the national arrangement; else the region (and its descendants) the exception applies to.';
comment on column calendar_days.year is 'Derived from day; must be a loaded year, so no override can exist for a year whose national calendar is missing.';
comment on column calendar_days.kind is 'rest: no work that day; work: a working day even if a weekend.';
comment on column calendar_days.name is 'Why: 春节, 国庆节, 调休上班, 台风停工…';

create index calendar_days_day on calendar_days (day);

insert into calendar_years (year, source) values
    (2025, '国务院办公厅关于2025年部分节假日安排的通知'),
    (2026, '国务院办公厅关于2026年部分节假日安排的通知');

insert into calendar_days (region_code, day, kind, name)
select null, d::date, 'rest', h.name
  from (values
        ('2025-01-01'::date, '2025-01-01'::date, '元旦'),
        ('2025-01-28', '2025-02-04', '春节'),
        ('2025-04-04', '2025-04-06', '清明节'),
        ('2025-05-01', '2025-05-05', '劳动节'),
        ('2025-05-31', '2025-06-02', '端午节'),
        ('2025-10-01', '2025-10-08', '国庆节、中秋节'),
        ('2026-01-01', '2026-01-03', '元旦'),
        ('2026-02-15', '2026-02-23', '春节'),
        ('2026-04-04', '2026-04-06', '清明节'),
        ('2026-05-01', '2026-05-05', '劳动节'),
        ('2026-06-19', '2026-06-21', '端午节'),
        ('2026-09-25', '2026-09-27', '中秋节'),
        ('2026-10-01', '2026-10-07', '国庆节')) as h (first_day, last_day, name),
       generate_series(h.first_day, h.last_day, interval '1 day') as d;

insert into calendar_days (region_code, day, kind, name) values
    (null, '2025-01-26', 'work', '调休上班'),
    (null, '2025-02-08', 'work', '调休上班'),
    (null, '2025-04-27', 'work', '调休上班'),
    (null, '2025-09-28', 'work', '调休上班'),
    (null, '2025-10-11', 'work', '调休上班'),
    (null, '2026-01-04', 'work', '调休上班'),
    (null, '2026-02-14', 'work', '调休上班'),
    (null, '2026-02-28', 'work', '调休上班'),
    (null, '2026-05-09', 'work', '调休上班'),
    (null, '2026-09-20', 'work', '调休上班'),
    (null, '2026-10-10', 'work', '调休上班');
