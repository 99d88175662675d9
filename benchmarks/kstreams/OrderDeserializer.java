package kappa.kstreams;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * An orders-topic value as kappa's producers write it (io/wire_format.py): the Confluent wire format,
 * magic byte 0, the writer schema's id as 4 big-endian bytes, then the Avro binary body. The id is
 * kappa's registry id (io/schema_registry.py: the low 31 bits of the CRC-64-AVRO fingerprint of the
 * schema's Parsing Canonical Form, its 8 bytes taken in the little-endian order the Avro spec writes
 * them), so every version under schemas/order/ is known without a registry server.
 *
 * <p>A value that is not an order (another framing, an unknown id, a body that does not decode, an
 * event time outside kappa's contract: 0 .. 9999-12-31, and at most an hour ahead of the wall clock) is
 * counted and becomes null: the topology filters it out rather than let one bad producer stop the job.
 * The hour is also the broker's own bound (log.message.timestamp.after.max.ms, 1 h in Kafka 4): a
 * later record could not be written to the repartition topic, and the job would stop.
 */
final class OrderDeserializer implements Deserializer<OrderDeserializer.Order> {
    /** What the topology needs of an order: its region and when it was placed (epoch ms). */
    record Order(String region, long eventTime) {}

    static final long MAX_EVENT_TIME_MS = 253_402_300_799_999L;
    static final long MAX_SKEW_MS = 3_600_000L;
    private static final int HEADER_BYTES = 5;

    private final Map<Integer, Schema> writers;
    private final AtomicLong malformed = new AtomicLong();
    // Kafka Streams shares one deserializer among its stream threads; Avro's readers keep state.
    private final ThreadLocal<Map<Integer, GenericDatumReader<GenericRecord>>> readers =
        ThreadLocal.withInitial(HashMap::new);
    private final ThreadLocal<BinaryDecoder> decoder = new ThreadLocal<>();

    OrderDeserializer(Map<Integer, Schema> writers) {
        this.writers = Map.copyOf(writers);
    }

    /** Every version of a subject: `dir/v<N>.avsc`, by kappa's schema id. */
    static Map<Integer, Schema> versions(Path dir) throws IOException {
        Map<Integer, Schema> byId = new HashMap<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "v*.avsc")) {
            for (Path file : files) {
                Schema schema = new Schema.Parser().parse(file.toFile());
                byId.put(schemaId(schema), schema);
            }
        }
        if (byId.isEmpty()) {
            throw new IOException("no v<N>.avsc schema in " + dir);
        }
        return byId;
    }

    static int schemaId(Schema schema) {
        return (int) (Long.reverseBytes(SchemaNormalization.parsingFingerprint64(schema)) & 0x7FFF_FFFFL);
    }

    long malformed() {
        return malformed.get();
    }

    @Override
    public Order deserialize(String topic, byte[] data) {
        if (data == null || data.length < HEADER_BYTES || data[0] != 0) {
            return refuse();
        }
        int writerId = ByteBuffer.wrap(data, 1, 4).getInt();
        Schema writer = writers.get(writerId);
        if (writer == null) {
            return refuse();
        }
        GenericDatumReader<GenericRecord> reader =
            readers.get().computeIfAbsent(writerId, id -> new GenericDatumReader<>(writer));
        try {
            BinaryDecoder body = DecoderFactory.get()
                .binaryDecoder(data, HEADER_BYTES, data.length - HEADER_BYTES, decoder.get());
            decoder.set(body);
            GenericRecord record = reader.read(null, body);
            long eventTime = (Long) record.get("event_time");
            if (eventTime < 0 || eventTime > MAX_EVENT_TIME_MS
                || eventTime > System.currentTimeMillis() + MAX_SKEW_MS) {
                return refuse();
            }
            return new Order(record.get("region").toString(), eventTime);
        } catch (IOException | AvroRuntimeException | ClassCastException | IndexOutOfBoundsException
                 | NegativeArraySizeException e) {  // what a truncated or foreign body raises
            return refuse();
        }
    }

    private Order refuse() {
        malformed.incrementAndGet();
        return null;
    }
}
