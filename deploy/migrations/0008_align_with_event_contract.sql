-- 0008_align_with_event_contract.sql — make the schema accept exactly what the events carry.
--
-- The event contract (proto/events/*.schema.json, encoded by common/event.c) is what intake
-- copies into the cases table, so where the two disagree the database must follow the
-- contract, or a valid event would fail on a constraint. Two disagreements are fixed here
-- rather than by editing 0002, which may already be applied (the runner refuses a changed
-- file):
--   1. refusal reason codes: case.rejected's reason_code enum is the list of record;
--      refusal_reasons now holds exactly those codes (a code 0002 seeded that the contract
--      lacks is deleted, or retired if some case already uses it);
--   2. case numbers: case.received allows ^[0-9A-Z][0-9A-Z-]{5,31}$ (e.g. 450103-20250312-0017),
--      which 0002's stricter region-year-serial pattern refused. case_no_next() still issues
--      region-year-serial numbers, which the wider pattern includes.
-- Applied by the migration runner in one transaction.

insert into refusal_reasons (code, name_zh, description) values
    ('in_legal_procedure',        '已进入法定途径',                 'In litigation, arbitration, administrative reconsideration, petition, discipline or information-disclosure procedure, concluded there, or belonging to another statutory procedure.'),
    ('emergency_110_119_120_122', '属于110/119/120/122紧急救助',    'Belongs to the 110/119/120/122 emergency services.'),
    ('unlawful_or_public_order',  '违反法律法规或公序良俗',         'Against laws, regulations or public order and good morals.'),
    ('harms_others_rights',       '损害他人合法权益',               'Harms the lawful rights of natural persons, legal persons or other organisations.');

delete from refusal_reasons r
 where r.code not in ('state_secret', 'military_security', 'non_government_remit', 'in_legal_procedure',
                      'concluded_no_new_facts', 'emergency_110_119_120_122', 'civil_dispute',
                      'unclear_or_unreachable', 'unlawful_or_public_order', 'harms_others_rights',
                      'outside_region')
   and not exists (select 1 from cases c where c.reject_reason = r.code);

update refusal_reasons set active = false
 where code not in ('state_secret', 'military_security', 'non_government_remit', 'in_legal_procedure',
                    'concluded_no_new_facts', 'emergency_110_119_120_122', 'civil_dispute',
                    'unclear_or_unreachable', 'unlawful_or_public_order', 'harms_others_rights',
                    'outside_region');

comment on table refusal_reasons is
    'Why a case may be refused (不予受理): exactly the reason_code values of the case.rejected event (proto/events/case.rejected.schema.json); a new reason is added to the contract first, then here. Every rejected case names one, and the enterprise is told it.';

alter table cases drop constraint cases_case_no_format;
alter table cases add constraint cases_case_no_format check (case_no ~ '^[0-9A-Z][0-9A-Z-]{5,31}$');

comment on column cases.case_no is
    'Human case number as in the case.received event (^[0-9A-Z][0-9A-Z-]{5,31}$); case_no_next() issues <region>-<year>-<6+ digits>, gap-free per region and year.';
