// Creates the missing topics of proto/topics.txt on a Kafka broker, in one JVM.
//
// Run as a single-file source program (Java 11+; the jdk.compiler module ships in Debian's
// openjdk-17-jre-headless), with Kafka's jars on the class path:
//
//   java -cp 'libs/*' deploy/kafka/EnsureTopics.java BOOTSTRAP TOPICS_FILE TIMEOUT_S [BROKER_PID]
//
// It waits (up to TIMEOUT_S seconds) until the broker answers a metadata request, lists the
// topics once, creates those that are missing with replication factor 1, and prints one line.
// When BROKER_PID is given and that process dies, it gives up at once.
// Exit codes: 0 done; 1 bad input or a topic could not be created; 2 no answer in time;
// 3 the broker process exited.

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.errors.TopicExistsException;

public class EnsureTopics {
    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: EnsureTopics BOOTSTRAP TOPICS_FILE TIMEOUT_S [BROKER_PID]");
            System.exit(1);
        }
        String bootstrap = args[0];
        Path file = Paths.get(args[1]);
        long timeoutS = Long.parseLong(args[2]);
        long brokerPid = args.length > 3 ? Long.parseLong(args[3]) : -1;

        Map<String, Integer> want = new LinkedHashMap<>();
        int lineNo = 0;
        for (String raw : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            lineNo++;
            String line = raw.replaceAll("#.*", "").trim();
            if (line.isEmpty()) continue;
            String[] f = line.split("\\s+");
            if (f.length != 2 || !f[0].matches("[a-zA-Z0-9._-]{1,249}") || !f[1].matches("[0-9]{1,4}")
                    || Integer.parseInt(f[1]) < 1) {
                System.err.println(file + ":" + lineNo + ": want 'name partitions', got: " + raw);
                System.exit(1);
            }
            want.put(f[0], Integer.parseInt(f[1]));
        }

        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "jiesu-stack");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutS);
        try (Admin admin = Admin.create(p)) {
            Throwable last = null;
            while (true) {
                try {
                    Collection<Node> nodes = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
                    if (!nodes.isEmpty()) break;
                } catch (Exception e) {
                    last = e instanceof ExecutionException ? e.getCause() : e;
                }
                if (brokerPid > 0 && !ProcessHandle.of(brokerPid).map(ProcessHandle::isAlive).orElse(false)) {
                    System.err.println("broker process " + brokerPid + " exited");
                    System.exit(3);
                }
                if (System.nanoTime() > deadline) {
                    System.err.println("no metadata answer from " + bootstrap + " within " + timeoutS + " s"
                            + (last != null ? ": " + last : ""));
                    System.exit(2);
                }
                Thread.sleep(300);
            }

            Set<String> have = admin.listTopics(new ListTopicsOptions().listInternal(false)).names().get();
            List<NewTopic> create = new ArrayList<>();
            List<String> present = new ArrayList<>();
            for (Map.Entry<String, Integer> t : want.entrySet()) {
                if (have.contains(t.getKey())) present.add(t.getKey());
                else create.add(new NewTopic(t.getKey(), t.getValue(), (short) 1));
            }
            if (!present.isEmpty()) {
                Map<String, TopicDescription> d = admin.describeTopics(present).allTopicNames().get();
                for (String name : present) {
                    int n = d.get(name).partitions().size();
                    if (n != want.get(name))
                        System.err.println("[stack] warning: topic " + name + " has " + n + " partitions, "
                                + file.getFileName() + " says " + want.get(name) + " (left as it is)");
                }
            }
            List<String> created = new ArrayList<>();
            boolean failed = false;
            if (!create.isEmpty()) {
                Map<String, org.apache.kafka.common.KafkaFuture<Void>> r = admin.createTopics(create).values();
                for (NewTopic t : create) {
                    try {
                        r.get(t.name()).get();
                        created.add(t.name() + "(" + t.numPartitions() + ")");
                    } catch (ExecutionException e) {
                        if (e.getCause() instanceof TopicExistsException) {
                            present.add(t.name());
                        } else {
                            System.err.println("cannot create topic " + t.name() + ": " + e.getCause());
                            failed = true;
                        }
                    }
                }
            }
            System.out.println("topics: " + (created.isEmpty() ? "none created" : "created " + String.join(" ", created))
                    + (present.isEmpty() ? "" : "; already there: " + String.join(" ", present)));
            System.exit(failed ? 1 : 0);
        }
    }
}
