// A department's own system on zaiban's bus, in Java: the client configuration that
// `zaiban departments onboard <code> --out dept.properties` made is read by the Kafka client
// as it is (it warns that the zaiban.* keys are not its own, and uses them for nothing),
// TLS included: it connects with SASL_SSL, trusting the CA the file carries inline.
// It takes the department's cases in its own consumer group and acknowledges (签收) each case
// it leads on its replies topic; offsets are committed once the answers are sent.
//
//   java -cp 'kafka-clients-3.9.1.jar:jackson-databind-2.16.2.jar:...' \
//       DepartmentClient.java dept.properties [how many cases, then stop]
//
// (Java 11+ runs a single source file as it is; tests/e2e/test_department_client.py runs it
// with the local broker's jars.)

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.FileReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class DepartmentClient {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        try (FileReader reader = new FileReader(args[0], StandardCharsets.UTF_8)) {
            config.load(reader);
        }
        String department = config.getProperty("zaiban.department");
        String casesTopic = config.getProperty("zaiban.cases.topic");
        String repliesTopic = config.getProperty("zaiban.replies.topic");
        long stopAfter = args.length > 1 ? Long.parseLong(args[1]) : Long.MAX_VALUE;
        ObjectMapper json = new ObjectMapper();

        try (KafkaConsumer<String, String> consumer =
                     new KafkaConsumer<>(config, new StringDeserializer(), new StringDeserializer());
             KafkaProducer<String, String> producer =
                     new KafkaProducer<>(config, new StringSerializer(), new StringSerializer())) {
            consumer.subscribe(List.of(casesTopic));
            long handled = 0;
            while (handled < stopAfter) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
                    JsonNode message = json.readTree(record.value());  // a DepartmentCase
                    String caseId = message.path("case_id").asText();
                    boolean ours = message.path("action").asText().equals("assigned")
                            && message.path("role").asText().equals("lead");
                    if (ours) {
                        String reply = json.createObjectNode()  // a DepartmentReply
                                .put("action", "acknowledge")
                                .put("reply_id", message.path("message_id").asText() + "/acknowledge")
                                .put("case_id", caseId)
                                .put("department", department)
                                .put("note", "已签收")
                                .toString();
                        producer.send(new ProducerRecord<>(repliesTopic, caseId, reply)).get();
                    }
                    System.out.println(department + ": " + caseId + " " + message.path("action").asText()
                            + (ours ? ": acknowledged" : ": nothing to answer"));
                    handled++;
                }
                consumer.commitSync();  // only once answered: at least once
            }
        }
    }
}
