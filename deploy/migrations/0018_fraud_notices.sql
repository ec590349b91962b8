-- 0018_fraud_notices.sql — a claimed contact that did not happen (弄虚作假, seed 004 二(五)3;
-- seed 001 二(七) level 3) becomes a real supervision notice.
--
-- Until now the revisit wrote such notices into its own table (revisit_fraud_notices) and
-- announced them itself, so they had no notice number, no printable 督办单, no reply clock and
-- were missing from the unit's supervision view. From this migration on there is one issuer of
-- notice rows, the deadline watcher: it issues the fraud notice when it consumes the revisit's
-- case.revisit_recorded that carries disputed_contact_ids (a supervisor's call), with the id
-- common/supnotice.c derives from that event's id, and arms its reply clock in the same
-- transaction. The disputed contacts move onto the notice; the revisit call row keeps its own
-- copy (revisit_calls.disputed_contact_ids).
--
-- Rows already in revisit_fraud_notices are carried over with the same id (so the
-- supervision.issued the revisit announced them with still names them; reporting counted each
-- once and counts nothing again), numbered, given the issuing centre of the unit's region and,
-- when not yet replied (a revisit notice could not be), an armed reply clock due at their
-- reply_due_at — a clock already past fires when the watcher next scans, and records how late.
-- Applied by the migration runner in one transaction.

alter table supervision_notices add column contact_ids uuid[] not null default '{}';
alter table supervision_notices add column source_event_id uuid;
alter table supervision_notices add constraint supervision_notices_contacts_for_fraud
    check (cardinality(contact_ids) = 0 or reason_code = 'fraud');
-- One notice per causing event, whatever retries, redeliveries or instances do.
alter table supervision_notices add constraint supervision_notices_once_per_event unique (source_event_id);

comment on column supervision_notices.contact_ids is
    'For a claimed contact that did not happen (reason fraud, found by a revisit call): the contact records (case.contact_recorded contact_record_id) the enterprise says never happened.';
comment on column supervision_notices.source_event_id is
    'The event that made the watcher issue the notice when no timer did: the revisit call (case.revisit_recorded event id = revisit_calls.id) that found the fraud.';

-- ---------------------------------------------------------------------------------------
-- The revisit's notices, carried over.
with recursive up (notice_id, code, depth) as (
    select f.id, u.region_code, 0 from revisit_fraud_notices f join units u on u.id = f.unit_id
    union all
    select up.notice_id, r.parent_code, up.depth + 1 from up join regions r on r.code = up.code
    where r.parent_code is not null and up.depth < 8
), issuer as (
    select distinct on (up.notice_id) up.notice_id, c.id as unit_id
    from up join units c on c.region_code = up.code and c.kind = 'centre' and c.active
    order by up.notice_id, up.depth, c.id
)
insert into supervision_notices (id, notice_no, level, unit_id, case_id, reason_code, reason_text, issued_at,
                                 reply_due_at, in_bulletin, issued_by, issuer_unit_id, contact_ids, source_event_id)
select f.id,
       'DB-' || to_char(f.issued_at at time zone 'Asia/Shanghai', 'YYYY') || '-' ||
           lpad(nextval('supervision_notice_seq')::text, 6, '0'),
       f.level, f.unit_id, f.case_id, 'fraud', f.reason_text, f.issued_at, f.reply_due_at, false, f.issued_by,
       i.unit_id, f.contact_ids, f.call_id
from revisit_fraud_notices f left join issuer i on i.notice_id = f.id
order by f.issued_at, f.id
on conflict do nothing;

insert into timers (case_id, notice_id, kind, version, due_at, unit_id, clock_unit)
select null, n.id, 'supervision_reply', 1, n.reply_due_at, n.unit_id, 'd'
from supervision_notices n join revisit_fraud_notices f on f.id = n.id
where n.replied_at is null and not exists (select 1 from timers t where t.notice_id = n.id);

drop table revisit_fraud_notices;
