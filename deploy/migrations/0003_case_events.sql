-- 0003_case_events.sql — the append-only history of every case.
--
-- Each transition decided by common/casefsm.c writes one row here and one outbox row in the
-- same transaction as the cases update, so the history, the current state and what Kafka
-- hears never disagree. The table is the dossier the archive keeps and the evidence the
-- revisit and the discipline referral rely on, so it is append-only: a mistake is
-- corrected by a later event, never by editing an earlier one. The guard is a trigger, which
-- stops application bugs; the deploy must additionally grant the application role only
-- SELECT and INSERT here, since a table owner can always drop a trigger.
-- Applied by the migration runner in one transaction.

create function reject_change() returns trigger
language plpgsql as $$
begin
    raise exception using
        errcode = 'integrity_constraint_violation',
        message = format('%s on %s is not allowed: %s', tg_op, tg_table_name, tg_argv[0]);
end $$;
comment on function reject_change() is
    'Trigger that refuses the statement it fires for, with the reason given as its argument (SQLSTATE 23000: a permanent error, never retried). Used to make ledgers append-only.';

create table case_events (
    id                 bigserial   primary key,
    event_id           uuid        not null unique,
    case_id            uuid        not null references cases (id),
    type               text        not null,
    from_state         text,
    to_state           text,
    case_version       int,
    actor_principal_id bigint      references principals (id),
    occurred_at        timestamptz not null,
    recorded_at        timestamptz not null default now(),
    payload            jsonb       not null,

    constraint case_events_type_format check (type ~ '^case\.[a-z][a-z_]*[a-z]$'),
    constraint case_events_from_state check (from_state in ('received', 'accepted', 'rejected',
                                                            'duplicate', 'dispatched', 'in_progress',
                                                            'resolved', 'closed', 'archived')),
    constraint case_events_to_state check (to_state in ('received', 'accepted', 'rejected',
                                                        'duplicate', 'dispatched', 'in_progress',
                                                        'resolved', 'closed', 'archived')),
    -- receive starts from ∅ (casefsm: CASEFSM_STATE_NONE), which is stored as NULL.
    constraint case_events_received_from_nothing check (type <> 'case.received' or from_state is null),
    constraint case_events_case_version_positive check (case_version >= 1),
    constraint case_events_payload_is_object check (jsonb_typeof(payload) = 'object'),
    -- One event per case version: two writers racing from the same version cannot both
    -- leave a history behind, even if one of them forgot the version check on cases.
    constraint case_events_one_per_version unique (case_id, case_version)
);

comment on table case_events is
    'Append-only history of every case: one row per event, written in the same transaction as the cases update and the outbox row. UPDATE, DELETE and TRUNCATE are refused by trigger.';
comment on column case_events.event_id is 'The event''s identity, the same as in the Kafka envelope and the outbox; consumers deduplicate on it.';
comment on column case_events.type is 'Event type, e.g. case.dispatched (common/casefsm.c maps actions to types).';
comment on column case_events.from_state is 'State before the event; NULL for case.received (no case yet) and for events that are not transitions.';
comment on column case_events.to_state is 'State after the event (equal to from_state for events that keep it); NULL for events that are not transitions.';
comment on column case_events.case_version is 'cases.version after this event, for events that updated the case; unique per case so the history is a single line. NULL for events that did not touch the case row.';
comment on column case_events.actor_principal_id is 'Who acted; NULL when a daemon acted (role system).';
comment on column case_events.occurred_at is 'When it happened in the world (a phone call''s time may precede its recording); deadlines and reports use this.';
comment on column case_events.recorded_at is 'When the database stored it.';
comment on column case_events.payload is 'Event-specific data (reason codes, result finding, rating, unit ids…), a JSON object as in the event schema under proto/.';

-- The dossier of one case, in order.
create index case_events_case on case_events (case_id, id);
-- Period scans for reports and audits: rows arrive in time order, so BRIN stays tiny.
create index case_events_occurred_brin on case_events using brin (occurred_at);

create trigger case_events_append_only
    before update or delete or truncate on case_events
    for each statement
    execute function reject_change('case_events is append-only; record a correcting event instead');
