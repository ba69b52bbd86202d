/* metrics_text.c - the Prometheus text exposition of the counters; see metrics_text.h. */
#include "metrics_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/base.h>
#include <uv.h>

/* printf into the buffer. */
static void out(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
out(struct buf *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void
family(struct buf *b, const char *name, const char *type, const char *help)
{
	out(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: \, " and newline escaped (the format's rules). */
static const char *
esc(char *dst, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			dst[o++] = '\\';
			dst[o++] = (char)(*s == '\n' ? 'n' : *s);	/* 'n' is an int in C */
		} else {
			dst[o++] = *s;
		}
	}
	dst[o] = '\0';
	return dst;
}

/* One sample per listener and counter: name{listener="..",LABELS} with LABELS from labels[i] (or none). */
static void
per_listener(struct buf *b, const struct metrics_view *v, const char *name, const enum metrics_counter *cs,
    const char *const *labels, size_t n)
{
	char l[128];
	size_t r, i;

	for (r = 0; r < v->nrows; r++)
		for (i = 0; i < n; i++)
			out(b, "%s{listener=\"%s\"%s%s} %llu\n", name, esc(l, sizeof(l), v->row[r].name),
			    labels ? "," : "", labels ? labels[i] : "", (unsigned long long)v->row[r].c[cs[i]]);
}

static void
connections(struct buf *b, const struct metrics_view *v)
{
	static const enum metrics_counter cs[] = { MC_CONN_ACCEPTED, MC_CONN_LIMIT, MC_CONN_LIMIT_PER_IP,
		MC_CONN_BACKEND_UNAVAILABLE, MC_CONN_PROXY_HEADER_ERROR, MC_CONN_NOT_ALLOWED };
	static const char *const vs[] = { "result=\"accepted\"", "result=\"limit\"", "result=\"limit_per_ip\"",
		"result=\"backend_unavailable\"",
		"result=\"proxy_header_error\"", "result=\"not_allowed\"" };

	family(b, "starttlsd_connections_total", "counter", "Client connections by outcome of their start.");
	per_listener(b, v, "starttlsd_connections_total", cs, vs, 6);
	family(b, "starttlsd_connections_active", "gauge", "Open client connections.");
	{
		static const enum metrics_counter a[] = { MC_ACTIVE };
		per_listener(b, v, "starttlsd_connections_active", a, NULL, 1);
	}
}

static void
tls(struct buf *b, const struct metrics_view *v)
{
	static const enum metrics_counter hs[] = { MC_TLS12_FULL, MC_TLS12_RESUMED, MC_TLS13_FULL, MC_TLS13_RESUMED };
	static const char *const hv[] = { "version=\"TLSv1.2\",resumed=\"no\"",
		"version=\"TLSv1.2\",resumed=\"yes\"",
		"version=\"TLSv1.3\",resumed=\"no\"", "version=\"TLSv1.3\",resumed=\"yes\"" };
	static const enum metrics_counter fs[] = { MC_TLSFAIL_HANDSHAKE, MC_TLSFAIL_TIMEOUT, MC_TLSFAIL_CLOSED };
	static const char *const fv[] = { "reason=\"handshake_error\"", "reason=\"timeout\"", "reason=\"closed\"" };
	static const enum metrics_counter ss[] = { MC_SESSIONS_TLS, MC_SESSIONS_PLAIN };
	static const char *const sv[] = { "tls=\"yes\"", "tls=\"no\"" };

	family(b, "starttlsd_tls_handshakes_total", "counter", "Completed TLS handshakes with clients.");
	per_listener(b, v, "starttlsd_tls_handshakes_total", hs, hv, 4);
	family(b, "starttlsd_tls_handshake_failures_total", "counter", "Client TLS handshakes that did not complete.");
	per_listener(b, v, "starttlsd_tls_handshake_failures_total", fs, fv, 3);
	family(b, "starttlsd_starttls_sessions_total", "counter",
	    "Finished sessions by whether they ever used TLS (STARTTLS adoption).");
	per_listener(b, v, "starttlsd_starttls_sessions_total", ss, sv, 2);
}

static void
messages(struct buf *b, const struct metrics_view *v)
{
	static const enum metrics_counter ms[] = { MC_MSG_ACCEPTED, MC_MSG_REJECTED, MC_MSG_ABORTED };
	static const char *const mv[] = { "result=\"accepted\"", "result=\"rejected\"", "result=\"aborted\"" };
	static const enum metrics_counter bs[] = { MC_MSG_BYTES };
	static const enum metrics_counter ps[] = { MC_POLICY_REQUIRE_TLS, MC_POLICY_AUTH_BEFORE_TLS,
		MC_POLICY_STARTTLS_INJECTION, MC_POLICY_BARE_NEWLINE, MC_POLICY_LINE_LENGTH, MC_POLICY_MAX_ERRORS,
		MC_POLICY_FORBIDDEN_COMMAND, MC_POLICY_TIMEOUT };
	static const char *const pv[] = { "rule=\"require_tls\"", "rule=\"auth_before_tls\"",
		"rule=\"starttls_injection\"",
		"rule=\"bare_newline\"", "rule=\"line_length\"", "rule=\"max_errors\"", "rule=\"forbidden_command\"", "rule=\"timeout\"" };

	family(b, "starttlsd_messages_total", "counter",
	    "Messages: accepted (2xx to the final dot), rejected (4xx/5xx), aborted (the session ended inside one).");
	per_listener(b, v, "starttlsd_messages_total", ms, mv, 3);
	family(b, "starttlsd_message_bytes_total", "counter", "Bytes of accepted messages sent to the backend.");
	per_listener(b, v, "starttlsd_message_bytes_total", bs, NULL, 1);
	family(b, "starttlsd_policy_rejections_total", "counter", "Things starttlsd refused, by the rule that did.");
	per_listener(b, v, "starttlsd_policy_rejections_total", ps, pv, 8);
}

static void
histogram(struct buf *b, const struct metrics_view *v, enum metrics_histogram h, const char *name, const char *help)
{
	uint64_t cum = 0;
	size_t i;

	family(b, name, "histogram", help);
	for (i = 0; i < METRICS_BUCKETS; i++) {
		cum += v->hist[h].bucket[i];
		if (i == METRICS_BUCKETS - 1)
			out(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
		else
			out(b, "%s_bucket{le=\"%g\"} %llu\n", name, metrics_bounds[h][i], (unsigned long long)cum);
	}
	out(b, "%s_sum %.6f\n%s_count %llu\n", name, (double)v->hist[h].sum_us / 1e6, name,
	    (unsigned long long)v->hist[h].count);
}

static void
certificates(struct buf *b, const struct tls_server *ts)
{
	const struct tls_cert_info *c;
	char s1[128], s2[600];
	size_t i;

	family(b, "starttlsd_certificate_expiry_timestamp_seconds", "gauge",
	    "When each certificate being served expires (Unix time).");
	for (i = 0; (c = tls_server_cert(ts, i)) != NULL; i++)
		out(b, "starttlsd_certificate_expiry_timestamp_seconds{section=\"%s\",subject=\"%s\",type=\"%s\"} %lld\n",
		    esc(s1, sizeof(s1), c->section), esc(s2, sizeof(s2), c->subject), c->type, (long long)c->not_after);
}

static void
process(struct buf *b, const struct proc_stats *p)
{
	family(b, "process_cpu_seconds_total", "counter", "User and system CPU time of the serving process.");
	out(b, "process_cpu_seconds_total %.3f\n", p->cpu_seconds);
	family(b, "process_resident_memory_bytes", "gauge", "Resident memory of the serving process.");
	out(b, "process_resident_memory_bytes %llu\n", (unsigned long long)p->rss_bytes);
	family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory of the serving process.");
	out(b, "process_virtual_memory_bytes %llu\n", (unsigned long long)p->vsize_bytes);
	family(b, "process_open_fds", "gauge", "Open file descriptors of the serving process.");
	out(b, "process_open_fds %u\n", p->open_fds);
	family(b, "process_max_fds", "gauge", "The serving process's limit of open file descriptors.");
	out(b, "process_max_fds %llu\n", (unsigned long long)p->max_fds);
	family(b, "process_start_time_seconds", "gauge", "When the serving process started (Unix time).");
	out(b, "process_start_time_seconds %.3f\n", p->start_time);
}

void
metrics_render_ready(struct buf *b, const char *const *names, const int *ready, size_t n)
{
	char l[128];
	size_t i;

	family(b, "starttlsd_ready", "gauge", "1 while the listener's backend takes connections (what /readyz "
	    "says of it), else 0.");
	for (i = 0; i < n; i++)
		out(b, "starttlsd_ready{listener=\"%s\"} %d\n", esc(l, sizeof(l), names[i]), ready[i] ? 1 : 0);
}

void
metrics_render(struct buf *b, const struct metrics_view *v, const struct tls_server *ts, const struct proc_stats *p)
{
	connections(b, v);
	tls(b, v);
	messages(b, v);
	histogram(b, v, MH_HANDSHAKE, "starttlsd_handshake_duration_seconds", "Client TLS handshakes, start to finish.");
	histogram(b, v, MH_BACKEND_CONNECT, "starttlsd_backend_connect_duration_seconds",
	    "Connecting to the backend (the name's lookup included).");
	histogram(b, v, MH_SESSION, "starttlsd_session_duration_seconds", "Whole client sessions.");
	certificates(b, ts);
	family(b, "starttlsd_config_reloads_total", "counter", "Reloads (SIGHUP, watch) by outcome.");
	out(b, "starttlsd_config_reloads_total{result=\"success\"} %llu\n", (unsigned long long)v->reloads_ok);
	out(b, "starttlsd_config_reloads_total{result=\"failure\"} %llu\n", (unsigned long long)v->reloads_failed);
	family(b, "starttlsd_config_last_reload_success_timestamp_seconds", "gauge",
	    "When the configuration being served was loaded (Unix time).");
	out(b, "starttlsd_config_last_reload_success_timestamp_seconds %llu\n",
	    (unsigned long long)v->last_reload_ok_unix);
	process(b, p);
	family(b, "starttlsd_build_info", "gauge", "Versions starttlsd was built with.");
	out(b, "starttlsd_build_info{version=\"%s\",libuv=\"%s\",tls=\"BoringSSL API %d\"} 1\n", STARTTLSD_VERSION,
	    uv_version_string(), BORINGSSL_API_VERSION);
}
