// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "stats/report.h"

int stats_format_parse(const char *name, enum stats_format *fmt)
{
	if (name && strcmp(name, "text") == 0)
		*fmt = STATS_TEXT;
	else if (name && strcmp(name, "json") == 0)
		*fmt = STATS_JSON;
	else
		return -EINVAL;
	return 0;
}

/* One table row: a reason histogram or a port/address entry of a snapshot. */
struct row {
	uint32_t code; /* reason rows */
	const struct exit_stats_entry *entry; /* pio/mmio rows */
	const struct histogram *hist;
};

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	uint64_t cx = histogram_count(x->hist), cy = histogram_count(y->hist);

	if (cx != cy)
		return cx > cy ? -1 : 1;
	if (x->entry && x->entry->addr != y->entry->addr)
		return x->entry->addr < y->entry->addr ? -1 : 1;
	if (x->entry)
		return (int)x->entry->write - (int)y->entry->write;
	return x->code < y->code ? -1 : x->code > y->code;
}

/* Rows with a non-zero count, busiest first. Returns how many, or -ENOMEM. */
static int reason_rows(const struct exit_stats *s, struct row **rows)
{
	unsigned int i;
	int n = 0;

	*rows = calloc(EXIT_STATS_NR_REASONS + 1, sizeof(**rows));
	if (!*rows)
		return -ENOMEM;
	for (i = 0; i <= EXIT_STATS_NR_REASONS; i++) {
		if (histogram_count(&s->reasons[i]))
			(*rows)[n++] = (struct row){ .code = i, .hist = &s->reasons[i] };
	}
	qsort(*rows, n, sizeof(**rows), row_cmp);
	return n;
}

static int entry_rows(const struct exit_stats_table *t, struct row **rows)
{
	unsigned int i, nr = exit_stats_nr_entries(t);
	int n = 0;

	*rows = calloc(nr ? nr : 1, sizeof(**rows));
	if (!*rows)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		const struct exit_stats_entry *e = &t->entries[i];

		if (histogram_count(&e->hist))
			(*rows)[n++] = (struct row){ .entry = e, .hist = &e->hist };
	}
	qsort(*rows, n, sizeof(**rows), row_cmp);
	return n;
}

static const char *reason_label(uint32_t code, char *buf, size_t len)
{
	const char *name = exit_reason_name(code);

	if (code == EXIT_STATS_REASON_OTHER)
		return "other";
	if (name)
		return name;
	snprintf(buf, len, "reason_%" PRIu32, code);
	return buf;
}

/* ---- text ---- */

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static double us(uint64_t ns)
{
	return (double)ns / 1e3;
}

static const char *const timing_header =
	"     count    total ms   median us      p99 us      max us";

static void text_timing(FILE *out, const struct histogram *h)
{
	fprintf(out, " %9" PRIu64 " %11.3f %11.3f %11.3f %11.3f\n", histogram_count(h),
		ms(histogram_sum(h)), us(histogram_percentile(h, 0.5)),
		us(histogram_percentile(h, 0.99)), us(histogram_max(h)));
}

static const char *or_dash(const char *s)
{
	return s ? s : "-";
}

static int text_exits(FILE *out, const char *title, const struct exit_stats *s)
{
	struct row *rows;
	char buf[32];
	int i, n;

	fprintf(out, "\n%s: %" PRIu64 " exits\n", title, exit_stats_total(s));
	n = reason_rows(s, &rows);
	if (n < 0)
		return n;
	fprintf(out, "  %-20s%s\n", "reason", timing_header);
	for (i = 0; i < n; i++) {
		fprintf(out, "  %-20s", reason_label(rows[i].code, buf, sizeof(buf)));
		text_timing(out, rows[i].hist);
	}
	free(rows);

	n = entry_rows(&s->pio, &rows);
	if (n < 0)
		return n;
	if (n || histogram_count(&s->pio.other.hist)) {
		fprintf(out, "  %-6s  %-5s  %-16s%s\n", "port", "dir", "device", timing_header);
		for (i = 0; i < n; i++) {
			const struct exit_stats_entry *e = rows[i].entry;

			fprintf(out, "  0x%04" PRIx64 "  %-5s  %-16s", e->addr,
				e->write ? "out" : "in", or_dash(e->dev));
			text_timing(out, rows[i].hist);
		}
		if (histogram_count(&s->pio.other.hist)) {
			fprintf(out, "  %-6s  %-5s  %-16s", "other", "-", "-");
			text_timing(out, &s->pio.other.hist);
		}
	}
	free(rows);

	n = entry_rows(&s->mmio, &rows);
	if (n < 0)
		return n;
	if (n || histogram_count(&s->mmio.other.hist)) {
		fprintf(out, "  %-18s  %-5s  %-16s%s\n", "address", "dir", "device", timing_header);
		for (i = 0; i < n; i++) {
			const struct exit_stats_entry *e = rows[i].entry;

			fprintf(out, "  0x%016" PRIx64 "  %-5s  %-16s", e->addr,
				e->write ? "write" : "read", or_dash(e->dev));
			text_timing(out, rows[i].hist);
		}
		if (histogram_count(&s->mmio.other.hist)) {
			fprintf(out, "  %-18s  %-5s  %-16s", "other", "-", "-");
			text_timing(out, &s->mmio.other.hist);
		}
	}
	free(rows);
	return 0;
}

struct timeline_event {
	const char *name;
	uint64_t ns;
};

static void timeline_events(const struct boot_timeline *t, struct timeline_event ev[7])
{
	static const struct boot_timeline none;

	if (!t)
		t = &none;
	ev[0] = (struct timeline_event){ "vm_created", t->vm_created };
	ev[1] = (struct timeline_event){ "memory_ready", t->memory_ready };
	ev[2] = (struct timeline_event){ "kernel_loaded", t->kernel_loaded };
	ev[3] = (struct timeline_event){ "first_kvm_run", t->first_kvm_run };
	ev[4] = (struct timeline_event){ "first_serial_byte", t->first_serial_byte };
	ev[5] = (struct timeline_event){ "init_started", t->init_started };
	ev[6] = (struct timeline_event){ "end", t->end };
}

static void text_timeline(FILE *out, const struct boot_timeline *t)
{
	struct timeline_event ev[7];
	uint64_t prev = 0;
	unsigned int i;

	timeline_events(t, ev);
	fprintf(out, "Boot timeline (ms since start)\n");
	fprintf(out, "  %-20s %11s %11s\n", "event", "at ms", "+ms");
	for (i = 0; i < 7; i++) {
		if (!ev[i].ns) {
			fprintf(out, "  %-20s %11s %11s\n", ev[i].name, "-", "-");
			continue;
		}
		fprintf(out, "  %-20s %11.3f %11.3f\n", ev[i].name, ms(ev[i].ns),
			ms(ev[i].ns - (prev < ev[i].ns ? prev : ev[i].ns)));
		prev = ev[i].ns;
	}
}

static void text_counters(FILE *out, const struct stats_counter *c, size_t nr)
{
	size_t i, zero = 0;

	fprintf(out, "\nKVM counters\n");
	fprintf(out, "  %-8s %-32s %20s  %s\n", "scope", "name", "value", "unit");
	for (i = 0; i < nr; i++) {
		if (!c[i].value) {
			zero++;
			continue;
		}
		fprintf(out, "  %-8s %-32s %20" PRIu64 "%s%s\n", or_dash(c[i].scope),
			or_dash(c[i].name), c[i].value, c[i].unit ? "  " : "",
			c[i].unit ? c[i].unit : "");
	}
	if (zero)
		fprintf(out, "  (%zu counters at zero not shown)\n", zero);
}

static int write_text(FILE *out, const struct stats_report *r, const struct exit_stats *snaps,
		      const struct exit_stats *total)
{
	char title[48];
	unsigned int i;
	int ret;

	text_timeline(out, r->timeline);
	snprintf(title, sizeof(title), "VM exits, total (%u vCPUs)", r->nr_vcpus);
	ret = text_exits(out, title, total);
	/* With one vCPU its table would repeat the total. */
	for (i = 0; !ret && r->nr_vcpus > 1 && i < r->nr_vcpus; i++) {
		snprintf(title, sizeof(title), "VM exits, vCPU %u", i);
		ret = text_exits(out, title, &snaps[i]);
	}
	if (ret)
		return ret;
	text_counters(out, r->counters, r->nr_counters);
	return 0;
}

/* ---- JSON ---- */

static void json_string(FILE *out, const char *s)
{
	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void json_timing(FILE *out, const struct histogram *h)
{
	fprintf(out,
		"\"count\": %" PRIu64 ", \"time_ns\": %" PRIu64 ", \"min_ns\": %" PRIu64
		", \"median_ns\": %" PRIu64 ", \"p99_ns\": %" PRIu64 ", \"max_ns\": %" PRIu64,
		histogram_count(h), histogram_sum(h), histogram_min(h),
		histogram_percentile(h, 0.5), histogram_percentile(h, 0.99), histogram_max(h));
}

static int json_table(FILE *out, const char *name, const char *addr_field, const char *dir_false,
		      const char *dir_true, const struct exit_stats_table *t)
{
	struct row *rows;
	int i, n = entry_rows(t, &rows);

	if (n < 0)
		return n;
	fprintf(out, ",\n    \"%s\": [", name);
	for (i = 0; i < n; i++) {
		const struct exit_stats_entry *e = rows[i].entry;

		fprintf(out, "%s\n      { \"%s\": %" PRIu64 ", \"dir\": \"%s\", \"device\": ",
			i ? "," : "", addr_field, e->addr, e->write ? dir_true : dir_false);
		json_string(out, e->dev);
		fputs(", ", out);
		json_timing(out, rows[i].hist);
		fputs(" }", out);
	}
	fprintf(out, "%s],\n    \"%s_other\": { ", n ? "\n    " : "", name);
	json_timing(out, &t->other.hist);
	fputs(" }", out);
	free(rows);
	return 0;
}

/* An <exits> object; @vcpu < 0 for the total. */
static int json_exits(FILE *out, const struct exit_stats *s, int vcpu)
{
	struct row *rows;
	uint64_t time_ns = 0;
	char buf[32];
	int i, n, ret;

	for (i = 0; i <= EXIT_STATS_NR_REASONS; i++)
		time_ns += histogram_sum(&s->reasons[i]);
	fputs("{\n", out);
	if (vcpu >= 0)
		fprintf(out, "    \"vcpu\": %d,\n", vcpu);
	fprintf(out, "    \"exits\": %" PRIu64 ",\n    \"time_ns\": %" PRIu64 ",\n",
		exit_stats_total(s), time_ns);
	n = reason_rows(s, &rows);
	if (n < 0)
		return n;
	fputs("    \"by_reason\": [", out);
	for (i = 0; i < n; i++) {
		fprintf(out, "%s\n      { \"reason\": ", i ? "," : "");
		json_string(out, reason_label(rows[i].code, buf, sizeof(buf)));
		if (rows[i].code == EXIT_STATS_REASON_OTHER)
			fputs(", \"code\": null, ", out);
		else
			fprintf(out, ", \"code\": %" PRIu32 ", ", rows[i].code);
		json_timing(out, rows[i].hist);
		fputs(" }", out);
	}
	fputs(n ? "\n    ]" : "]", out);
	free(rows);
	ret = json_table(out, "pio", "port", "in", "out", &s->pio);
	if (!ret)
		ret = json_table(out, "mmio", "address", "read", "write", &s->mmio);
	fputs("\n  }", out);
	return ret;
}

static int write_json(FILE *out, const struct stats_report *r, const struct exit_stats *snaps,
		      const struct exit_stats *total)
{
	struct timeline_event ev[7];
	unsigned int i;
	int ret;

	fputs("{\n  \"format\": \"kvmini-stats\",\n  \"version\": 1,\n  \"timeline_ns\": {", out);
	timeline_events(r->timeline, ev);
	for (i = 0; i < 7; i++) {
		fprintf(out, "%s\n    \"%s\": ", i ? "," : "", ev[i].name);
		if (ev[i].ns)
			fprintf(out, "%" PRIu64, ev[i].ns);
		else
			fputs("null", out);
	}
	fputs("\n  },\n  \"total\": ", out);
	ret = json_exits(out, total, -1);
	fputs(",\n  \"vcpus\": [", out);
	for (i = 0; !ret && i < r->nr_vcpus; i++) {
		fputs(i ? ", " : "", out);
		ret = json_exits(out, &snaps[i], (int)i);
	}
	if (ret)
		return ret;
	fputs("],\n  \"kvm_counters\": [", out);
	for (i = 0; i < r->nr_counters; i++) {
		fprintf(out, "%s\n    { \"scope\": ", i ? "," : "");
		json_string(out, r->counters[i].scope);
		fputs(", \"name\": ", out);
		json_string(out, r->counters[i].name);
		fprintf(out, ", \"value\": %" PRIu64 ", \"unit\": ", r->counters[i].value);
		json_string(out, r->counters[i].unit);
		fputs(" }", out);
	}
	fputs(r->nr_counters ? "\n  ]\n}\n" : "]\n}\n", out);
	return 0;
}

int stats_report_write(FILE *out, enum stats_format fmt, const struct stats_report *r)
{
	struct exit_stats *snaps, total;
	unsigned int i, max_keys = 1, nr_snaps = 0;
	int ret = 0;

	snaps = calloc(r->nr_vcpus ? r->nr_vcpus : 1, sizeof(*snaps));
	if (!snaps)
		return -ENOMEM;
	/* Snapshot first, so the total is exactly the sum of the vCPU tables shown. */
	for (i = 0; i < r->nr_vcpus && !ret; i++) {
		/* A missing vCPU shows as one that never exited. */
		if (r->vcpus[i])
			ret = exit_stats_snapshot(&snaps[i], r->vcpus[i]);
		else
			ret = exit_stats_init(&snaps[i], 0);
		if (ret)
			break;
		nr_snaps++;
		max_keys += exit_stats_nr_entries(&snaps[i].pio) +
			    exit_stats_nr_entries(&snaps[i].mmio);
	}
	if (!ret)
		ret = exit_stats_init(&total, max_keys);
	if (!ret) {
		for (i = 0; i < nr_snaps; i++)
			exit_stats_merge(&total, &snaps[i]);
		if (fmt == STATS_JSON)
			ret = write_json(out, r, snaps, &total);
		else
			ret = write_text(out, r, snaps, &total);
		exit_stats_free(&total);
	}
	for (i = 0; i < nr_snaps; i++)
		exit_stats_free(&snaps[i]);
	free(snaps);
	if (!ret && (fflush(out) || ferror(out)))
		ret = -EIO;
	return ret;
}
