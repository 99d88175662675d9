"""The single-node OpenSearch kappa starts from Maven Central's jars (`kappa.services.opensearch_node`):
its plugins loaded (painless scripts, the common analyzers), external versions rejecting a stale write
(what the read model's sink relies on), and every port on loopback."""
import json
import urllib.error
import urllib.request

import pytest

from tests import sockets


def test_an_external_version_rejects_a_stale_write(opensearch):
    path = "/read-model-check/_doc/order-1"
    assert opensearch.request("PUT", f"{path}?version=17&version_type=external",
                              {"status": "paid"})["result"] == "created"
    with pytest.raises(urllib.error.HTTPError) as stale:
        opensearch.request("PUT", f"{path}?version=9&version_type=external", {"status": "pending"})
    assert stale.value.code == 409
    assert json.load(stale.value)["error"]["type"] == "version_conflict_engine_exception"
    document = opensearch.request("GET", path)
    assert (document["_version"], document["_source"]) == (17, {"status": "paid"})


def test_its_plugins_are_loaded(opensearch):
    plugins = {row["component"] for row in json.loads(urllib.request.urlopen(
        f"{opensearch.url}/_cat/plugins?format=json", timeout=10).read() or b"[]")}
    modules = {module["name"] for node in opensearch.request("GET", "/_nodes/plugins")["nodes"].values()
               for module in node["plugins"]}
    assert plugins | modules >= {"org.opensearch.transport.Netty4Plugin", "org.opensearch.painless.PainlessPlugin",
                                 "org.opensearch.analysis.common.CommonAnalysisPlugin"}
    tokens = opensearch.request("POST", "/_analyze", {"analyzer": "whitespace", "text": "open orders"})["tokens"]
    assert [t["token"] for t in tokens] == ["open", "orders"]
    opensearch.request("PUT", "/painless-check/_doc/1?refresh=true", {"n": 1})
    opensearch.request("POST", "/painless-check/_update/1?refresh=true",
                       {"script": {"source": "ctx._source.n += params.by", "lang": "painless", "params": {"by": 2}}})
    assert opensearch.request("GET", "/painless-check/_doc/1")["_source"] == {"n": 3}


def test_it_listens_on_loopback_only(opensearch):
    found = sockets.listening(opensearch.pids())
    assert {port for _, _, port, _ in found} == {opensearch.http_port, opensearch.transport_port}
    assert [s for s in found if not sockets.is_loopback(s[1])] == []
