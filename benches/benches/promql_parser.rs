//! PromQL parsing: prom-promql against the `promql-parser` crate (GreptimeDB's), side by side in
//! one criterion group per corpus, so the ratio holds on a noisy machine.
//!
//! Corpora (written for this benchmark, in the style of real rule files and dashboards):
//! - `alert_rules`: 25 alerting and recording rule expressions shaped like kube-prometheus's
//!   (long selectors, `by` clauses, ratios of rates, `absent`, `predict_linear`,
//!   `histogram_quantile`, `offset`, multi-line with comments);
//! - `dashboard_queries`: 25 Grafana panel queries (`rate`/`irate` over `$__rate_interval`
//!   already substituted, `topk`, `label_replace`, subqueries, `@ end()`, `or` chains);
//! - `all`: both together.
//!
//! Each benchmark parses every query of its corpus once per iteration. Only what both parsers
//! accept is measured; a query promql-parser rejects is reported at start-up and skipped for
//! both (it rejects none of these today).
//!
//! ```text
//! cargo bench -p prom-benches --bench promql_parser -- --warm-up-time 1 --measurement-time 5
//! ```

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ALERT_RULES: &[&str] = &[
    r#"sum by (cluster, namespace, job) (rate(apiserver_request_total{job="apiserver",verb=~"LIST|GET",code=~"5.."}[5m])) / sum by (cluster, namespace, job) (rate(apiserver_request_total{job="apiserver",verb=~"LIST|GET"}[5m])) > 0.05"#,
    r#"histogram_quantile(0.99, sum by (cluster, le, resource) (rate(apiserver_request_duration_seconds_bucket{job="apiserver",verb=~"LIST|GET",subresource!~"proxy|attach|log|exec|portforward"}[5m]))) > 1"#,
    r#"kube_deployment_spec_replicas{job="kube-state-metrics"} != kube_deployment_status_replicas_available{job="kube-state-metrics"} and changes(kube_deployment_status_replicas_updated{job="kube-state-metrics"}[10m]) == 0"#,
    r#"max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff", job="kube-state-metrics"}[5m]) >= 1"#,
    r#"sum by (namespace, pod, cluster) (max by (namespace, pod, cluster) (kube_pod_status_phase{job="kube-state-metrics", phase=~"Pending|Unknown|Failed"}) * on (namespace, pod, cluster) group_left (owner_kind) topk by (namespace, pod, cluster) (1, max by (namespace, pod, owner_kind, cluster) (kube_pod_owner{owner_kind!="Job"}))) > 0"#,
    r#"(node_filesystem_avail_bytes{job="node-exporter",fstype!="",mountpoint!=""} / node_filesystem_size_bytes{job="node-exporter",fstype!="",mountpoint!=""} * 100 < 15 and predict_linear(node_filesystem_avail_bytes{job="node-exporter",fstype!="",mountpoint!=""}[6h], 4*60*60) < 0 and node_filesystem_readonly{job="node-exporter",fstype!="",mountpoint!=""} == 0)"#,
    "# Without max_over_time, failed scrapes could create false negatives.\nmax_over_time(alertmanager_config_last_reload_successful{job=\"alertmanager-main\",namespace=\"monitoring\"}[5m]) == 0",
    r#"(sum without (instance) (rate(prometheus_notifications_errors_total{job="prometheus-k8s"}[5m])) / sum without (instance) (rate(prometheus_notifications_sent_total{job="prometheus-k8s"}[5m]))) * 100 > 3"#,
    r#"absent(up{job="kube-scheduler"} == 1)"#,
    r#"1 - avg without (cpu) (sum without (mode) (rate(node_cpu_seconds_total{job="node-exporter", mode=~"idle|iowait|steal"}[5m])))"#,
    r#"sum by (cluster, namespace, pod, container) (irate(container_cpu_usage_seconds_total{job="kubelet", metrics_path="/metrics/cadvisor", image!=""}[5m])) * on (cluster, namespace, pod) group_left (node) topk by (cluster, namespace, pod) (1, max by (cluster, namespace, pod, node) (kube_pod_info{node!=""}))"#,
    r#"increase(kube_pod_container_status_restarts_total{job="kube-state-metrics"}[1h]) > 3"#,
    r#"(count by (cluster) (max by (cluster, namespace, pod) (kube_pod_status_phase{phase="Running"} == 1)) / count by (cluster) (kube_node_status_allocatable{resource="pods"})) > 0.95"#,
    r#"sum(rate(http_requests_total{job="api",code=~"5.."}[5m] offset 1w)) / sum(rate(http_requests_total{job="api"}[5m] offset 1w))"#,
    r#"kubelet_certificate_manager_client_ttl_seconds < 86400"#,
    r#"time() - max by (job, instance) (process_start_time_seconds{job=~"prometheus.*"}) < 300"#,
    r#"avg_over_time(up{job="alertmanager-main"}[5m]) < 0.5"#,
    r#"count by (namespace, service) (count_values by (namespace, service) ("config_hash", alertmanager_config_hash{job="alertmanager-main"})) != 1"#,
    r#"min by (namespace, service, integration) (rate(alertmanager_notifications_failed_total{job="alertmanager-main", integration=~`slack|pagerduty`}[15m]) / ignoring (reason) group_left rate(alertmanager_notifications_total{job="alertmanager-main"}[15m])) > 0.01"#,
    r#"label_replace(sum by (instance) (rate(node_network_receive_errs_total[2m])) / sum by (instance) (rate(node_network_receive_packets_total[2m])), "host", "$1", "instance", "(.*):.*") > 0.01"#,
    r#"(1 - (node_memory_MemAvailable_bytes{job="node-exporter"} / node_memory_MemTotal_bytes{job="node-exporter"})) * 100 > 90"#,
    r#"rate(node_vmstat_pgmajfault{job="node-exporter"}[5m]) > 500"#,
    r#"sum(kube_resourcequota{job="kube-state-metrics", type="hard", resource="cpu"}) / sum(kube_node_status_allocatable{resource="cpu",job="kube-state-metrics"}) > 1.5"#,
    r#"prometheus_tsdb_head_series{job="prometheus"} > 2 * quantile_over_time(0.5, prometheus_tsdb_head_series{job="prometheus"}[1d] offset 1d)"#,
    r#"sum by (le) (rate(grpc_server_handling_seconds_bucket{grpc_type="unary",grpc_service!~"grpc.health.*"}[5m])) unless on () absent(grpc_server_started_total)"#,
];

const DASHBOARD_QUERIES: &[&str] = &[
    r#"sum(rate(container_cpu_usage_seconds_total{namespace="default", pod=~"api-.*", container!=""}[2m])) by (pod)"#,
    r#"topk(10, sum by (handler) (rate(http_request_duration_seconds_count{job="api"}[1m])))"#,
    r#"histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{job="api", handler!="/metrics"}[5m])) by (le, handler))"#,
    r#"100 * (1 - avg by (instance) (irate(node_cpu_seconds_total{mode="idle", instance=~"node-1:9100|node-2:9100"}[1m])))"#,
    r#"node_memory_MemTotal_bytes{instance="node-1:9100"} - node_memory_MemFree_bytes{instance="node-1:9100"} - node_memory_Buffers_bytes{instance="node-1:9100"} - node_memory_Cached_bytes{instance="node-1:9100"}"#,
    r#"rate(node_network_receive_bytes_total{device!~"lo|veth.*|docker.*|br.*"}[1m]) * 8"#,
    r#"sum by (status_code) (increase(nginx_ingress_controller_requests{ingress="web"}[1h]))"#,
    r#"max_over_time(rate(http_requests_total{job="api"}[1m])[1h:1m])"#,
    r#"avg_over_time(sum by (pod) (container_memory_working_set_bytes{namespace="prod"})[30m:30s])"#,
    r#"sum(rate(http_requests_total[5m] @ end())) by (job)"#,
    r#"label_replace(kube_pod_info{namespace="prod"}, "node_name", "$1", "node", "(.+)")"#,
    r#"sort_desc(sum by (namespace) (kube_pod_container_resource_requests{resource="memory"}))"#,
    r#"(sum(rate(http_requests_total{status=~"2.."}[5m])) / sum(rate(http_requests_total[5m]))) * 100"#,
    r#"up{job=~"node|kubelet|apiserver"} == 0 or absent(up{job="node"})"#,
    r#"delta(node_hwmon_temp_celsius{chip="platform_coretemp_0"}[10m])"#,
    r#"sum by (instance) (rate(node_disk_read_bytes_total[1m])) + sum by (instance) (rate(node_disk_written_bytes_total[1m]))"#,
    r#"count(count by (version) (kubernetes_build_info{job!~"kube-dns|coredns"}))"#,
    r#"clamp_min(1 - sum(rate(errors_total[5m])) / sum(rate(requests_total[5m])), 0)"#,
    r#"quantile(0.9, rate(go_gc_duration_seconds_sum[5m]))"#,
    r#"bottomk(5, avg by (pod) (rate(container_network_transmit_bytes_total{namespace="prod"}[3m])))"#,
    r#"sum without (instance, pod) (rate(grpc_server_handled_total{grpc_code!="OK"}[1m])) > bool 0"#,
    r#"deriv(process_resident_memory_bytes{job="prometheus"}[15m])"#,
    r#"avg(rate(node_load1[5m])) by (cluster) / count(count(node_cpu_seconds_total) by (cpu, cluster)) by (cluster)"#,
    r#"timestamp(up{job="node"}) - time()"#,
    r#"sum(increase(http_requests_total{handler=~"/api/v1/(query|query_range)"}[$__range])) by (handler)"#,
];

fn corpus_all() -> Vec<&'static str> {
    ALERT_RULES
        .iter()
        .chain(DASHBOARD_QUERIES.iter())
        .copied()
        .collect()
}

/// The queries (Grafana's `$__range` substituted as Grafana would) that both parsers accept;
/// ours must accept all of them.
fn accepted(corpus: &[&str]) -> Vec<String> {
    corpus
        .iter()
        .map(|q| q.replace("$__range", "1h"))
        .filter(|q| {
            if let Err(e) = prom_promql::parse(q) {
                panic!("prom-promql rejects {q}: {e}");
            }
            match promql_parser::parser::parse(q) {
                Ok(_) => true,
                Err(e) => {
                    eprintln!("promql-parser rejects {q}: {e}; skipped for both");
                    false
                }
            }
        })
        .collect()
}

fn bench_corpus(c: &mut Criterion, name: &str, corpus: &[&'static str]) {
    let queries = accepted(corpus);
    let bytes: usize = queries.iter().map(String::len).sum();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("prom_promql", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(prom_promql::parse(black_box(q)).unwrap());
            }
        })
    });
    group.bench_function("promql_parser", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(promql_parser::parser::parse(black_box(q)).unwrap());
            }
        })
    });
    group.finish();
}

fn promql(c: &mut Criterion) {
    bench_corpus(c, "alert_rules", ALERT_RULES);
    bench_corpus(c, "dashboard_queries", DASHBOARD_QUERIES);
    bench_corpus(c, "all", &corpus_all());
}

criterion_group!(benches, promql);
criterion_main!(benches);
