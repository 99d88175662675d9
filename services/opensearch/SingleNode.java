package dev.kappa.opensearch;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single OpenSearch node from Maven Central's jars, for kappa's read models: no distribution archive is
 * served here, so the node is started the way OpenSearch's own test framework starts one, a {@link Node}
 * given its plugins as classes (HTTP and transport over Netty, painless, the common analyzers).
 *
 * <p>Usage: {@code java -cp 'lib/*:launcher.jar' dev.kappa.opensearch.SingleNode HOME}, with the settings in
 * {@code HOME/config/opensearch.yml}. It runs until it is sent SIGTERM, then closes the node.
 */
public final class SingleNode extends Node {
    private static final List<Class<? extends Plugin>> PLUGINS =
            List.of(Netty4Plugin.class, PainlessPlugin.class, CommonAnalysisPlugin.class);

    private SingleNode(Settings settings, Path config) {
        super(InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), config, () -> "kappa"), PLUGINS, true);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: SingleNode HOME (settings in HOME/config/opensearch.yml)");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Path config = home.resolve("config");
        Settings settings = Settings.builder()
                .loadFromPath(config.resolve("opensearch.yml"))
                .put("path.home", home.toString())
                .build();
        Node node = new SingleNode(settings, config);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "close-node"));
        node.start();
        closed.await();
    }
}
