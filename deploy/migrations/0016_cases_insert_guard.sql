-- 0016_cases_insert_guard.sql — the tier rule of new cases checked once per statement.
--
-- cases_guard (0002) ran a PL/pgSQL call and a regions lookup for every inserted row, only to
-- check that the responsible tier is not below the case's own region; and a BEFORE ROW insert
-- trigger also keeps COPY from inserting rows several at a time. Intake registers cases in
-- batches (group commit), so the insert check becomes one statement-level query over the
-- inserted rows (a transition table): the same rule, the same error (SQLSTATE 23514, same
-- message), raised before the statement completes, so nothing of a failing batch is stored.
-- Updates and deletes keep the row trigger unchanged (immutable identity, version + 1,
-- updated_at, tier on change, no deletes).
-- Applied by the migration runner in one transaction.

drop trigger cases_guard on cases;
create trigger cases_guard
    before update or delete on cases
    for each row execute function cases_guard();

create function cases_guard_insert() returns trigger
language plpgsql as $$
declare
    bad record;
begin
    select n.case_no, n.tier, n.region_code, r.tier as region_tier into bad
      from new_cases n join regions r on r.code = n.region_code
     where n.tier > r.tier
     limit 1;
    if found then
        raise exception using
            errcode = 'check_violation',
            message = format('case %s: tier %s is below its region %s (tier %s)',
                             bad.case_no, bad.tier, bad.region_code, bad.region_tier);
    end if;
    return null;
end $$;
comment on function cases_guard_insert() is
    'Statement trigger on cases inserts: no new case has a responsible tier below its own region (one query per statement, over the transition table).';

create trigger cases_guard_insert
    after insert on cases
    referencing new table as new_cases
    for each statement execute function cases_guard_insert();
