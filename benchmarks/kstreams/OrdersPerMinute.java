package kappa.kstreams;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * The seed's job, the one kappa's orders-per-minute replaces, as the streaming peer of `make bench`:
 * orders grouped by region into 1-minute tumbling event-time windows with no grace, and counted.
 *
 * <pre>java -cp 'build/deps/kafka-streams/lib/*:build/deps/kafka-streams/orders-per-minute.jar' \
 *     kappa.kstreams.OrdersPerMinute peer.properties</pre>
 *
 * <p>The properties file holds Kafka Streams' configuration (application.id, bootstrap.servers,
 * state.dir, ...) and kappa's own keys: kappa.input.topic, kappa.output.topic, kappa.schemas.dir (the
 * order subject's folder, schemas/order) and kappa.summary.file. Results go to the output topic keyed
 * {@code region:window_start_ms}, the value the count as decimal text; every update of a window is
 * sent (after Kafka Streams' cache), so a window's latest value is its count.
 *
 * <p>What it does not do, as the seed did not: {@code count()} counts records, so a redelivered order
 * counts twice; and with no grace a record is dropped when its window's end is at or before the
 * task's stream time, the largest timestamp that task has seen (Kafka Streams' KStreamWindowAggregate).
 *
 * <p>Each state change is printed ("kafka streams: RUNNING"). On SIGTERM it writes the summary file (JSON: malformed values skipped, records Kafka Streams
 * dropped, by task) and closes.
 */
public final class OrdersPerMinute {
    static final String STORE = "orders-per-minute";

    private OrdersPerMinute() {}

    /** Event time from the payload; a malformed value (null) keeps its record's own timestamp, since
     * it is filtered out right after and never reaches the window. */
    static final class EventTime implements TimestampExtractor {
        @Override
        public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
            return record.value() instanceof OrderDeserializer.Order order ? order.eventTime() : record.timestamp();
        }
    }

    static Topology topology(String input, String output, OrderDeserializer orders) {
        StreamsBuilder builder = new StreamsBuilder();
        Serde<OrderDeserializer.Order> values = Serdes.serdeFrom((topic, order) -> {
            throw new UnsupportedOperationException("orders are only read");
        }, orders);
        builder.stream(input, Consumed.with(Serdes.ByteArray(), values)
                .withTimestampExtractor(new EventTime()).withName("orders"))
            .filter((key, order) -> order != null, Named.as("valid-orders"))
            .mapValues(OrderDeserializer.Order::region, Named.as("region"))  // all that count() needs
            .groupBy((key, region) -> region, Grouped.with("by-region", Serdes.String(), Serdes.String()))
            .windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofMinutes(1)))
            .count(Named.as("count"), Materialized.as(STORE))
            .toStream(Named.as("updates"))
            .map((window, count) -> KeyValue.pair(window.key() + ":" + window.window().start(), count.toString()),
                 Named.as("by-window-key"))
            .to(output, Produced.with(Serdes.String(), Serdes.String()).withName("results"));
        return builder.build();
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        if (args.length != 1) {
            System.err.println("usage: OrdersPerMinute PROPERTIES_FILE");
            System.exit(2);
        }
        Properties config = new Properties();
        try (Reader in = Files.newBufferedReader(Path.of(args[0]))) {
            config.load(in);
        }
        String input = take(config, "kappa.input.topic");
        String output = take(config, "kappa.output.topic");
        Path summary = Path.of(take(config, "kappa.summary.file"));
        OrderDeserializer orders = new OrderDeserializer(
            OrderDeserializer.versions(Path.of(take(config, "kappa.schemas.dir"))));

        KafkaStreams streams = new KafkaStreams(topology(input, output, orders), config);
        CountDownLatch failed = new CountDownLatch(1);
        streams.setStateListener((now, before) -> System.out.println("kafka streams: " + now));
        streams.setUncaughtExceptionHandler(error -> {
            error.printStackTrace();
            failed.countDown();
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                Files.writeString(summary, summaryJson(orders.malformed(), droppedByTask(streams)));
            } catch (IOException e) {
                e.printStackTrace();
            }
            streams.close(Duration.ofSeconds(15));
        }));
        streams.start();
        failed.await();
        System.exit(1);
    }

    private static String take(Properties config, String key) {
        Object value = config.remove(key);
        if (value == null) {
            throw new IllegalArgumentException("missing property " + key);
        }
        return value.toString();
    }

    /** Kafka Streams' task metric dropped-records-total. Here only the windowed count drops records
     * (late ones): malformed values are filtered by the topology, no key is null. */
    static Map<String, Long> droppedByTask(KafkaStreams streams) {
        Map<String, Long> dropped = new TreeMap<>();
        for (Map.Entry<MetricName, ? extends Metric> entry : streams.metrics().entrySet()) {
            MetricName name = entry.getKey();
            if (name.name().equals("dropped-records-total") && name.group().equals("stream-task-metrics")) {
                long value = ((Number) entry.getValue().metricValue()).longValue();
                dropped.merge(name.tags().get("task-id"), value, Long::sum);
            }
        }
        return dropped;
    }

    static String summaryJson(long malformed, Map<String, Long> droppedByTask) {
        StringBuilder tasks = new StringBuilder();
        droppedByTask.forEach((task, n) -> tasks.append(tasks.isEmpty() ? "" : ", ")
            .append('"').append(task).append("\": ").append(n));
        long dropped = droppedByTask.values().stream().mapToLong(Long::longValue).sum();
        return "{\"malformed\": " + malformed + ", \"dropped_late\": " + dropped
            + ", \"dropped_late_by_task\": {" + tasks + "}}\n";
    }
}
