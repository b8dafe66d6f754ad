// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/kvm.h>

#include "stats/report.h"

/* ---- a small strict JSON syntax checker (RFC 8259) ---- */

struct json {
	const char *p;
	int depth;
};

static bool json_value(struct json *j);

static void json_ws(struct json *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool json_string(struct json *j)
{
	int i;

	if (*j->p++ != '"')
		return false;
	while (*j->p != '"') {
		unsigned char c = (unsigned char)*j->p++;

		if (c < 0x20) /* also the end of the text */
			return false;
		if (c != '\\')
			continue;
		c = (unsigned char)*j->p++;
		if (c == 'u') {
			for (i = 0; i < 4; i++) {
				if (!is_hex(*j->p++))
					return false;
			}
		} else if (!strchr("\"\\/bfnrt", c) || !c) {
			return false;
		}
	}
	j->p++;
	return true;
}

static bool json_number(struct json *j)
{
	if (*j->p == '-')
		j->p++;
	if (*j->p == '0')
		j->p++;
	else if (is_digit(*j->p))
		while (is_digit(*j->p))
			j->p++;
	else
		return false;
	if (*j->p == '.') {
		j->p++;
		if (!is_digit(*j->p))
			return false;
		while (is_digit(*j->p))
			j->p++;
	}
	if (*j->p == 'e' || *j->p == 'E') {
		j->p++;
		if (*j->p == '+' || *j->p == '-')
			j->p++;
		if (!is_digit(*j->p))
			return false;
		while (is_digit(*j->p))
			j->p++;
	}
	return true;
}

static bool json_word(struct json *j, const char *w)
{
	size_t n = strlen(w);

	if (strncmp(j->p, w, n))
		return false;
	j->p += n;
	return true;
}

/* Object or array: @close ends it, members are "key": value when @object. */
static bool json_container(struct json *j, char close, bool object)
{
	bool ok = true;

	if (++j->depth > 64)
		return false;
	j->p++;
	json_ws(j);
	if (*j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		json_ws(j);
		if (object) {
			if (!json_string(j))
				return false;
			json_ws(j);
			if (*j->p++ != ':')
				return false;
		}
		if (!json_value(j))
			return false;
		json_ws(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		ok = *j->p++ == close;
		break;
	}
	j->depth--;
	return ok;
}

static bool json_value(struct json *j)
{
	json_ws(j);
	switch (*j->p) {
	case '{':
		return json_container(j, '}', true);
	case '[':
		return json_container(j, ']', false);
	case '"':
		return json_string(j);
	case 't':
		return json_word(j, "true");
	case 'f':
		return json_word(j, "false");
	case 'n':
		return json_word(j, "null");
	default:
		return json_number(j);
	}
}

static bool json_valid(const char *text)
{
	struct json j = { .p = text };

	if (!json_value(&j))
		return false;
	json_ws(&j);
	return *j.p == '\0';
}

static void test_json_checker(void **state)
{
	static const char *const good[] = {
		"{}",	 "[]", " { \"a\" : [1, -0, 2.5e+3, true, false, null, \"\\u00e9\\n\"] } ",
		"\"x\"", "0",
	};
	static const char *const bad[] = {
		"",	  "{",	      "{\"a\":1,}", "[1,]",	 "[01]",  "{\"a\" 1}",
		"[1 2]",  "\"a\nb\"", "\"\\x\"",    "\"\\u12\"", "{} {}", "[tru]",
		"{a: 1}", "[1.]",     "[-]",	    "\"abc",	 "[\"\\", "{\"a\":}",
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!json_valid(good[i]))
			fail_msg("rejected valid JSON: %s", good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (json_valid(bad[i]))
			fail_msg("accepted invalid JSON: %s", bad[i]);
	}
}

/* ---- the report ---- */

struct fixture {
	struct exit_stats vcpu[2];
	const struct exit_stats *vcpus[2];
	struct boot_timeline timeline;
	struct stats_counter counters[3];
	struct stats_report report;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || exit_stats_init(&f->vcpu[0], 16) || exit_stats_init(&f->vcpu[1], 1))
		return -1;
	/* vCPU 0: 9 exits. */
	exit_stats_record_pio(&f->vcpu[0], 0x3f8, true, "uart0", 1000);
	exit_stats_record_pio(&f->vcpu[0], 0x3f8, true, "uart0", 2000);
	exit_stats_record_pio(&f->vcpu[0], 0x3f8, true, "uart0", 3000);
	exit_stats_record_pio(&f->vcpu[0], 0x64, false, "i8042", 500);
	exit_stats_record_mmio(&f->vcpu[0], 0xfee00000, true, NULL, 700);
	exit_stats_record_mmio(&f->vcpu[0], 0xfee00000, true, NULL, 900);
	exit_stats_record_exit(&f->vcpu[0], KVM_EXIT_HLT, 1000000);
	exit_stats_record_exit(&f->vcpu[0], 45, 10);
	exit_stats_record_exit(&f->vcpu[0], 1000, 20);
	/* vCPU 1: 3 exits, one key of room, so port 0x80 overflows. */
	exit_stats_record_pio(&f->vcpu[1], 0x3f8, true, "uart0", 4000);
	exit_stats_record_pio(&f->vcpu[1], 0x3f8, true, "uart0", 5000);
	exit_stats_record_pio(&f->vcpu[1], 0x80, true, NULL, 100);
	f->vcpus[0] = &f->vcpu[0];
	f->vcpus[1] = &f->vcpu[1];

	f->timeline = (struct boot_timeline){ .vm_created = 1000000,
					      .memory_ready = 3500000,
					      .kernel_loaded = 20000000,
					      .first_kvm_run = 21000000,
					      .end = 900000000 };
	f->counters[0] = (struct stats_counter){ "vm", "remote_tlb_flush", 12, NULL };
	f->counters[1] = (struct stats_counter){ "vcpu0", "halt_\"poll\"\n", 0, "ns" };
	f->counters[2] = (struct stats_counter){ "vcpu1", "exits", 77, NULL };
	f->report = (struct stats_report){ .vcpus = f->vcpus,
					   .nr_vcpus = 2,
					   .timeline = &f->timeline,
					   .counters = f->counters,
					   .nr_counters = 3 };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	exit_stats_free(&f->vcpu[0]);
	exit_stats_free(&f->vcpu[1]);
	free(f);
	return 0;
}

/* The report as a string; the caller frees it. */
static char *render(const struct stats_report *r, enum stats_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	assert_int_equal(stats_report_write(out, fmt, r), 0);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(strlen(buf), len);
	return buf;
}

static void assert_contains(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("missing: %s", needle);
}

static void test_json(void **state)
{
	static const char *const fields[] = {
		"format",	"version",	 "timeline_ns",	  "vm_created",
		"memory_ready", "kernel_loaded", "first_kvm_run", "first_serial_byte",
		"init_started", "end",		 "total",	  "vcpus",
		"vcpu",		"kvm_counters",	 "scope",	  "name",
		"value",	"unit",		 "exits",	  "time_ns",
		"by_reason",	"reason",	 "code",	  "pio",
		"port",		"dir",		 "device",	  "pio_other",
		"mmio",		"address",	 "mmio_other",	  "count",
		"min_ns",	"median_ns",	 "p99_ns",	  "max_ns",
	};
	struct fixture *f = *state;
	char *text = render(&f->report, STATS_JSON), key[64];
	size_t i;

	if (!json_valid(text))
		fail_msg("invalid JSON:\n%s", text);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		snprintf(key, sizeof(key), "\"%s\": ", fields[i]);
		assert_contains(text, key);
	}
	assert_contains(text, "\"format\": \"kvmini-stats\"");
	assert_contains(text, "\"vm_created\": 1000000,");
	assert_contains(text, "\"first_serial_byte\": null,");
	/* Total, then each vCPU; median and p99 are bucket midpoints. */
	assert_contains(text, "\"exits\": 12,");
	assert_contains(text, "\"vcpu\": 0,\n    \"exits\": 9,");
	assert_contains(text, "\"vcpu\": 1,\n    \"exits\": 3,");
	assert_contains(text, "{ \"port\": 1016, \"dir\": \"out\", \"device\": \"uart0\", "
			      "\"count\": 5, \"time_ns\": 15000, \"min_ns\": 1000, "
			      "\"median_ns\": 3007, \"p99_ns\": 4991, \"max_ns\": 5000 }");
	assert_contains(text, "{ \"port\": 100, \"dir\": \"in\", \"device\": \"i8042\", "
			      "\"count\": 1,");
	assert_contains(text, "\"pio_other\": { \"count\": 1, \"time_ns\": 100,");
	assert_contains(text, "{ \"address\": 4276092928, \"dir\": \"write\", "
			      "\"device\": null, \"count\": 2,");
	assert_contains(text, "\"mmio_other\": { \"count\": 0,");
	assert_contains(text, "{ \"reason\": \"io\", \"code\": 2, \"count\": 7,");
	assert_contains(text, "{ \"reason\": \"hlt\", \"code\": 5, \"count\": 1, "
			      "\"time_ns\": 1000000,");
	assert_contains(text, "{ \"reason\": \"reason_45\", \"code\": 45, \"count\": 1,");
	assert_contains(text, "{ \"reason\": \"other\", \"code\": null, \"count\": 1,");
	/* Busiest first: io (7) before mmio (2). */
	assert_true(strstr(text, "\"reason\": \"io\"") < strstr(text, "\"reason\": \"mmio\""));
	/* Counters: all of them, strings escaped, a missing unit is null. */
	assert_contains(text, "{ \"scope\": \"vm\", \"name\": \"remote_tlb_flush\", "
			      "\"value\": 12, \"unit\": null }");
	assert_contains(text, "\"name\": \"halt_\\\"poll\\\"\\u000a\", \"value\": 0, "
			      "\"unit\": \"ns\"");
	free(text);
}

static void test_json_empty(void **state)
{
	struct stats_report r = { 0 };
	char *text = render(&r, STATS_JSON);

	if (!json_valid(text))
		fail_msg("invalid JSON:\n%s", text);
	assert_contains(text, "\"vcpus\": []");
	assert_contains(text, "\"kvm_counters\": []");
	assert_contains(text, "\"by_reason\": []");
	assert_contains(text, "\"end\": null");
	assert_contains(text, "\"exits\": 0,");
	free(text);
}

/* The first line of @text holding @needle, copied into @line. */
static void find_line(const char *text, const char *needle, char *line, size_t len)
{
	const char *hit = strstr(text, needle), *start, *end;

	if (!hit)
		fail_msg("no line with: %s", needle);
	for (start = hit; start > text && start[-1] != '\n'; start--)
		;
	end = strchr(hit, '\n');
	assert_non_null(end);
	assert_true((size_t)(end - start) < len);
	memcpy(line, start, end - start);
	line[end - start] = '\0';
}

static void test_text(void **state)
{
	struct fixture *f = *state;
	char *text = render(&f->report, STATS_TEXT), line[256], a[32], b[32], c[32];
	unsigned long long count, value;
	double at;

	assert_contains(text, "VM exits, total (2 vCPUs): 12 exits\n");
	assert_contains(text, "VM exits, vCPU 0: 9 exits\n");
	assert_contains(text, "VM exits, vCPU 1: 3 exits\n");

	/* The first port row is in the totals table. */
	find_line(text, "0x03f8", line, sizeof(line));
	assert_int_equal(sscanf(line, "%31s %31s %31s %llu", a, b, c, &count), 4);
	assert_string_equal(b, "out");
	assert_string_equal(c, "uart0");
	assert_int_equal(count, 5);

	find_line(text, "0x00000000fee00000", line, sizeof(line));
	assert_int_equal(sscanf(line, "%31s %31s %31s %llu", a, b, c, &count), 4);
	assert_string_equal(b, "write");
	assert_string_equal(c, "-");
	assert_int_equal(count, 2);

	find_line(text, "  hlt ", line, sizeof(line));
	assert_int_equal(sscanf(line, "%31s %llu %lf", a, &count, &at), 3);
	assert_int_equal(count, 1);
	assert_true(at == 1.0); /* total ms */

	find_line(text, "  other ", line, sizeof(line));
	assert_int_equal(sscanf(line, "%31s %llu", a, &count), 2);
	assert_int_equal(count, 1);

	find_line(text, "vm_created", line, sizeof(line));
	assert_int_equal(sscanf(line, "%31s %lf", a, &at), 2);
	assert_true(at == 1.0);
	find_line(text, "first_serial_byte", line, sizeof(line));
	assert_int_equal(sscanf(line, "%31s %31s", a, b), 2);
	assert_string_equal(b, "-");

	find_line(text, "remote_tlb_flush", line, sizeof(line));
	assert_int_equal(sscanf(line, "%31s %31s %llu", a, b, &value), 3);
	assert_string_equal(a, "vm");
	assert_int_equal(value, 12);
	/* Zero counters are summarised, not listed. */
	assert_null(strstr(text, "halt_"));
	assert_contains(text, "(1 counters at zero not shown)");
	free(text);
}

static void test_text_one_vcpu(void **state)
{
	struct fixture *f = *state;
	char *text;

	f->report.nr_vcpus = 1;
	text = render(&f->report, STATS_TEXT);
	/* The single vCPU's table would repeat the total, so it is left out. */
	assert_contains(text, "VM exits, total (1 vCPUs): 9 exits\n");
	assert_null(strstr(text, "VM exits, vCPU 0"));
	free(text);
}

static void test_null_vcpu(void **state)
{
	struct fixture *f = *state;
	char *text;

	f->vcpus[0] = NULL;
	text = render(&f->report, STATS_JSON);
	if (!json_valid(text))
		fail_msg("invalid JSON:\n%s", text);
	assert_contains(text, "\"total\": {\n    \"exits\": 3,");
	assert_contains(text, "\"vcpu\": 0,\n    \"exits\": 0,");
	free(text);
}

static void test_write_error(void **state)
{
	struct fixture *f = *state;
	FILE *ro = fopen("/dev/null", "r");

	assert_non_null(ro);
	assert_int_equal(stats_report_write(ro, STATS_JSON, &f->report), -EIO);
	fclose(ro);
}

static void test_format_parse(void **state)
{
	enum stats_format fmt = STATS_TEXT;

	assert_int_equal(stats_format_parse("json", &fmt), 0);
	assert_int_equal(fmt, STATS_JSON);
	assert_int_equal(stats_format_parse("text", &fmt), 0);
	assert_int_equal(fmt, STATS_TEXT);
	assert_int_equal(stats_format_parse("JSON", &fmt), -EINVAL);
	assert_int_equal(stats_format_parse("", &fmt), -EINVAL);
	assert_int_equal(stats_format_parse(NULL, &fmt), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_checker),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
		cmocka_unit_test(test_json_empty),
		cmocka_unit_test_setup_teardown(test_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_one_vcpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_vcpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error, setup, teardown),
		cmocka_unit_test(test_format_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
