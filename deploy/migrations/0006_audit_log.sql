-- 0006_audit_log.sql — who read which case and who changed what settings.
--
-- Appeal content is confidential (seed 002 §5): only those handling a case may see it, and
-- every read of a case is recorded here, as is every administrative change (principals,
-- tokens, units, calendars, profiles). Case transitions are not repeated here: case_events
-- already records them with their actor. Like case_events the log is append-only, for the
-- same reason and with the same caveat about the owner role.
-- Applied by the migration runner in one transaction.

create table audit_log (
    id           bigserial   primary key,
    at           timestamptz not null default now(),
    principal_id bigint      references principals (id),
    action       text        not null,
    object       text        not null,
    detail       jsonb       not null default '{}',

    constraint audit_log_action_format check (action ~ '^[a-z][a-z0-9_.]{0,63}$'),
    constraint audit_log_object_format check (char_length(object) between 3 and 200 and object ~ '^[a-z_]+:'),
    constraint audit_log_detail_is_object check (jsonb_typeof(detail) = 'object')
);

comment on table audit_log is
    'Append-only record of reads of cases and of administrative changes. UPDATE, DELETE and TRUNCATE are refused by trigger.';
comment on column audit_log.principal_id is 'Who did it; NULL for a daemon or an operator tool without a principal.';
comment on column audit_log.action is 'What was done, dotted lower case: case.read, case.list, case.export, principal.create, token.revoke, calendar.load…';
comment on column audit_log.object is 'What it was done to, as kind:id — case:<uuid>, principal:<id>, unit:<code>, region:<code>, token:<hex prefix>.';
comment on column audit_log.detail is 'Context: request id, client address, fields changed (never the personal data itself).';

-- "Who has looked at this case?" and "what has this person looked at?"
create index audit_log_object on audit_log (object, at);
create index audit_log_principal on audit_log (principal_id, at) where principal_id is not null;
create index audit_log_at_brin on audit_log using brin (at);

create trigger audit_log_append_only
    before update or delete or truncate on audit_log
    for each statement
    execute function reject_change('audit_log is append-only');
