-- 0005_messaging.sql — exactly-once effects over at-least-once Kafka.
--
-- The three tables of the messaging pattern every daemon follows. A daemon never produces
-- to Kafka inside its business transaction: it writes the envelope to `outbox` in that
-- transaction, and a relay publishes unpublished rows in id order and stamps them. A
-- consumer records each event it has applied in `consumed_events` in the same transaction
-- as the effect, so a redelivered event is recognised and skipped; where a consumer keeps
-- its Kafka position in the database rather than in Kafka, `consumer_offsets` holds it,
-- committed with the effects it covers.
-- Applied by the migration runner in one transaction.

create table outbox (
    id           bigserial   primary key,
    event_id     uuid        not null unique,
    topic        text        not null,
    msg_key      text        not null,
    payload      text        not null,
    created_at   timestamptz not null default now(),
    published_at timestamptz,

    constraint outbox_topic_format check (topic ~ '^[A-Za-z0-9._-]{1,249}$'),
    constraint outbox_msg_key_not_empty check (msg_key <> '' and char_length(msg_key) <= 256),
    -- Caught here rather than by every consumer's dead-letter queue.
    constraint outbox_payload_is_json check (payload::json is not null)
);

comment on table outbox is
    'Transactional outbox: events written in the same transaction as the state change they announce, published to Kafka afterwards by the relay in id order. Published rows are purged after the retention the operators set.';
comment on column outbox.id is 'Publication order; the relay publishes ascending ids.';
comment on column outbox.event_id is 'The envelope''s event id (also case_events.event_id for case events).';
comment on column outbox.topic is 'Kafka topic to publish to (legal Kafka topic name).';
comment on column outbox.msg_key is 'Kafka message key (the case id for case events, so one case''s events stay in one partition, in order).';
comment on column outbox.payload is 'The JSON envelope exactly as encoded by the producer''s codec; stored as text so the bytes published are the bytes written.';
comment on column outbox.published_at is 'When the broker acknowledged it; NULL while pending.';

-- The relay's queue: only unpublished rows, so it stays small however big the table grows.
create index outbox_unpublished on outbox (id) where published_at is null;
-- The purge of old published rows.
create index outbox_created_brin on outbox using brin (created_at);

-- ---------------------------------------------------------------------------------------
create table consumed_events (
    consumer    text        not null,
    event_id    uuid        not null,
    consumed_at timestamptz not null default now(),

    primary key (consumer, event_id),
    constraint consumed_events_consumer_format check (consumer ~ '^[a-z0-9][a-z0-9_.-]{0,63}$')
);

comment on table consumed_events is
    'Events each consumer has applied, inserted in the same transaction as the effect: a redelivery finds its row and is skipped (idempotent consumption). Rows older than the topics'' retention can be purged.';
comment on column consumed_events.consumer is 'Consumer name, e.g. dispatcher or revisit (one per consuming component, not per process).';
comment on column consumed_events.event_id is 'The envelope''s event id.';

create index consumed_events_consumed_brin on consumed_events using brin (consumed_at);

-- ---------------------------------------------------------------------------------------
create table consumer_offsets (
    consumer    text        not null,
    topic       text        not null,
    partition   int         not null,
    next_offset bigint      not null,
    updated_at  timestamptz not null default now(),

    primary key (consumer, topic, partition),
    constraint consumer_offsets_consumer_format check (consumer ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    constraint consumer_offsets_topic_format check (topic ~ '^[A-Za-z0-9._-]{1,249}$'),
    constraint consumer_offsets_partition_range check (partition >= 0),
    constraint consumer_offsets_offset_range check (next_offset >= 0)
);

comment on table consumer_offsets is
    'Kafka positions kept in the database, committed in the same transaction as the effects of the messages before them, so a restart resumes exactly after the last applied message.';
comment on column consumer_offsets.next_offset is 'The offset of the next message to read (Kafka''s committed-offset convention: last processed + 1).';
