-- 0020_result_handler.sql — who handled the case at the unit, for the handling form (承办单).
--
-- The form the offices use (seed 003, annex 2) names the unit's person in charge of the case
-- (经办人) and their phone, both "必填" on paper. The lead unit now gives them with its result
-- (POST /v1/cases/{id}/result: handler_name, handler_phone); results stored before have none,
-- and the form then names the principal who submitted the result and leaves the phone blank.
-- They are civil servants' work contacts: kept with the result, not put on the event stream.
-- Applied by the migration runner in one transaction.

alter table case_results
    add column handler_name  text,
    add column handler_phone text,
    add constraint case_results_handler_name check (char_length(handler_name) between 1 and 50),
    add constraint case_results_handler_phone
        check (char_length(handler_phone) between 3 and 32 and handler_phone !~ '[^0-9+() -]');

comment on column case_results.handler_name is 'The unit''s person in charge (经办人), as the result gave it; NULL for results before 0020.';
comment on column case_results.handler_phone is 'Their work phone, printed on the handling form (承办单).';
