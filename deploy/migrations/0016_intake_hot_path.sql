-- 0016_intake_hot_path.sql — the same rules, checked at a fraction of the cost, on the tables
-- every registered appeal writes (cases, case_events, outbox) and the outbox relay updates.
--
-- 1. Format checks written as a bounded repetition of one character class (x{1,249}) made
--    PostgreSQL's regex engine expand the class hundreds of times: 40 us per outbox row for
--    the topic, 5 us per case for the case number and the phone, 3 us per credit code, paid
--    again on every UPDATE (the relay marking rows published re-checks them). Each becomes
--    a length test plus an unbounded class, which accepts exactly the same strings (both
--    count characters), under the same constraint name: 0.5 to 1 us. The old constraint is
--    dropped and the new one added NOT VALID, then validated, all in the migration's one
--    transaction: writers of these tables wait while existing rows are scanned.
-- 2. The tier rule of new cases, checked once per statement (below).
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

-- ---- 1. format checks ------------------------------------------------------------------
alter table outbox drop constraint outbox_topic_format;
alter table outbox add constraint outbox_topic_format
    check (char_length(topic) between 1 and 249 and topic !~ '[^A-Za-z0-9._-]') not valid;
alter table outbox validate constraint outbox_topic_format;

alter table cases drop constraint cases_case_no_format;
alter table cases add constraint cases_case_no_format
    check (char_length(case_no) between 6 and 32 and case_no ~ '^[0-9A-Z][0-9A-Z-]*$') not valid;
alter table cases validate constraint cases_case_no_format;

alter table cases drop constraint cases_contact_phone_format;
alter table cases add constraint cases_contact_phone_format
    check (char_length(contact_phone) between 3 and 32 and contact_phone !~ '[^0-9+() -]') not valid;
alter table cases validate constraint cases_contact_phone_format;

alter table idempotency_keys drop constraint idempotency_keys_key_format;
alter table idempotency_keys add constraint idempotency_keys_key_format
    check (char_length(idem_key) between 1 and 128 and idem_key !~ '[^\x21-\x7e]') not valid;
alter table idempotency_keys validate constraint idempotency_keys_key_format;

alter domain uscc drop constraint uscc_format;
alter domain uscc add constraint uscc_format
    check (char_length(value) = 18 and value ~ '^[0-9A-HJ-NP-RTUW-Y][0-9A-HJ-NP-RTUW-Y][0-9][0-9][0-9][0-9][0-9][0-9][0-9A-HJ-NP-RTUW-Y]+$') not valid;
alter domain uscc validate constraint uscc_format;

-- ---- 2. the tier rule of new cases --------------------------------------------------------

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
