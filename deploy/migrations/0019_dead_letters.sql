-- 0019_dead_letters.sql — the messages consumers could never apply, kept where an operator can
-- find them, and put back once the cause is fixed.
--
-- A consumer (common/kafka.c, kcons) dead-letters a message that is not JSON, has no usable
-- event id, or that its handler refuses for good: until now that wrote one message to the
-- jiesu.dead-letter topic (through the outbox) and nothing else, so finding one meant reading
-- Kafka, and applying it after a fix meant hand-editing consumed_events and the outbox. Each
-- dead letter is now also a row here, written in the same transaction as the consumer's offset
-- (so it exists exactly when the offset moved past the message), once per consumer and Kafka
-- position. `jiesuctl deadletter list|show|replay` reads and replays them: a replay forgets the
-- consumer's dedup row of that event and queues the event again through the outbox, in one
-- transaction, audited; the row records when and by whom.
-- Applied by the migration runner in one transaction.

create table dead_letters (
    id             bigserial   primary key,
    consumer       text        not null,
    topic          text        not null,
    kafka_partition integer    not null,
    kafka_offset   bigint      not null,
    msg_key        text,                  -- the message's key, when it had one in UTF-8
    event_id       uuid,                  -- null: the message carried no usable event id
    event_type     text,
    error          text        not null,  -- why the consumer refused it
    original       text,                  -- the message as received; null when not UTF-8 text
    original_bytes integer     not null,
    created_at     timestamptz not null default now(),
    replayed_at    timestamptz,
    replayed_by    text,

    constraint dead_letters_once unique (consumer, topic, kafka_partition, kafka_offset),
    constraint dead_letters_consumer_format check (consumer ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    constraint dead_letters_position check (kafka_partition >= 0 and kafka_offset >= 0),
    constraint dead_letters_error_not_empty check (error <> '' and char_length(error) <= 2000),
    constraint dead_letters_original_bytes check (original_bytes >= 0),
    constraint dead_letters_replayed_by check ((replayed_at is null) = (replayed_by is null))
);

create index dead_letters_pending on dead_letters (consumer, id) where replayed_at is null;

comment on table dead_letters is
    'Messages a consumer could never apply (kcons KCONS_DEAD, not JSON, no event id), one row per consumer and Kafka position, written with the consumer offset; jiesuctl deadletter replays them.';
comment on column dead_letters.original is
    'The message as received (it may hold personal data, like the case tables): jiesuctl deadletter show masks personal fields.';
