// What a Kafka topic holds between two points, for tests/e2e/chaos.sh, in one JVM.
//
// Run as a single-file source program (Java 11+) with Kafka's jars on the class path, as
// deploy/stack/up.sh runs deploy/kafka/EnsureTopics.java:
//
//   java -cp 'libs/*' tests/e2e/TopicSlice.java BOOTSTRAP ends TOPIC
//       prints "PARTITION END_OFFSET" per partition: where the topic ends now
//   java -cp 'libs/*' tests/e2e/TopicSlice.java BOOTSTRAP read TOPIC P:OFFSET[,P:OFFSET…] TIMEOUT_S
//       prints every message value from each partition's OFFSET (a partition not named starts
//       at its beginning) up to the end the topic has when the read starts, one value a line
//       (JSON envelopes have no raw newline), then "# read N messages" on stderr
//
// It never joins a consumer group (partitions are assigned, offsets never committed), so it
// cannot move any daemon's position. Exit codes: 0 done; 1 bad input; 2 the end was not
// reached within TIMEOUT_S seconds.

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class TopicSlice {
    public static void main(String[] args) throws Exception {
        if (args.length < 3 || !(args[1].equals("ends") || (args[1].equals("read") && args.length == 5))) {
            System.err.println("usage: TopicSlice BOOTSTRAP ends TOPIC | BOOTSTRAP read TOPIC P:OFFSET,… TIMEOUT_S");
            System.exit(1);
        }
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> parts = new ArrayList<>();
            List<PartitionInfo> infos = c.partitionsFor(args[2], Duration.ofSeconds(30));
            if (infos == null || infos.isEmpty()) {
                System.err.println("TopicSlice: no topic " + args[2]);
                System.exit(1);
            }
            for (PartitionInfo i : infos) parts.add(new TopicPartition(args[2], i.partition()));
            Map<TopicPartition, Long> ends = c.endOffsets(parts, Duration.ofSeconds(30));
            if (args[1].equals("ends")) {
                for (TopicPartition tp : parts) System.out.println(tp.partition() + " " + ends.get(tp));
                return;
            }
            Map<Integer, Long> from = new HashMap<>();
            for (String s : args[3].split(",")) {
                if (s.isEmpty()) continue;
                String[] f = s.split(":");
                if (f.length != 2) {
                    System.err.println("TopicSlice: want P:OFFSET, got " + s);
                    System.exit(1);
                }
                from.put(Integer.parseInt(f[0]), Long.parseLong(f[1]));
            }
            Map<TopicPartition, Long> begins = c.beginningOffsets(parts, Duration.ofSeconds(30));
            c.assign(parts);
            List<TopicPartition> open = new ArrayList<>();
            for (TopicPartition tp : parts) {
                long start = Math.max(from.getOrDefault(tp.partition(), 0L), begins.get(tp));
                c.seek(tp, start);
                if (start < ends.get(tp)) open.add(tp);
                else c.pause(List.of(tp));
            }
            long deadline = System.nanoTime() + Long.parseLong(args[4]) * 1_000_000_000L;
            long n = 0;
            StringBuilder out = new StringBuilder(1 << 16);
            while (!open.isEmpty()) {
                if (System.nanoTime() > deadline) {
                    System.out.print(out);
                    System.out.flush();
                    System.err.println("TopicSlice: timed out with " + open.size() + " partitions unread to their end");
                    System.exit(2);
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    if (r.offset() >= ends.get(tp)) continue;
                    if (r.value() != null) out.append(new String(r.value(), StandardCharsets.UTF_8)).append('\n');
                    n++;
                    if (out.length() > (1 << 20)) {
                        System.out.print(out);
                        out.setLength(0);
                    }
                }
                for (TopicPartition tp : new ArrayList<>(open)) {
                    if (c.position(tp) >= ends.get(tp)) {
                        open.remove(tp);
                        c.pause(List.of(tp));
                    }
                }
            }
            System.out.print(out);
            System.out.flush();
            System.err.println("# read " + n + " messages");
        }
    }
}
