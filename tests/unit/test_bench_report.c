// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench_report.h"

/* ---- a small strict JSON checker (RFC 8259 grammar, no extensions) ---- */

struct json_cursor {
	const char *p, *end;
	int depth;
};

static bool json_value(struct json_cursor *c);

static void json_ws(struct json_cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool json_lit(struct json_cursor *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n))
		return false;
	c->p += n;
	return true;
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool json_number_ok(struct json_cursor *c)
{
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p >= c->end || !is_digit(*c->p))
		return false;
	if (*c->p == '0')
		c->p++;
	else
		while (c->p < c->end && is_digit(*c->p))
			c->p++;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (c->p >= c->end || !is_digit(*c->p))
			return false;
		while (c->p < c->end && is_digit(*c->p))
			c->p++;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (c->p >= c->end || !is_digit(*c->p))
			return false;
		while (c->p < c->end && is_digit(*c->p))
			c->p++;
	}
	return true;
}

static bool is_hex(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* ASCII only: the writer promises no raw bytes >= 0x80. */
static bool json_string_ok(struct json_cursor *c)
{
	if (c->p >= c->end || *c->p != '"')
		return false;
	c->p++;
	while (c->p < c->end) {
		unsigned char ch = (unsigned char)*c->p++;

		if (ch == '"')
			return true;
		if (ch < 0x20 || ch >= 0x80)
			return false;
		if (ch != '\\')
			continue;
		if (c->p >= c->end)
			return false;
		ch = (unsigned char)*c->p++;
		if (ch == 'u') {
			for (int i = 0; i < 4; i++) {
				if (c->p >= c->end || !is_hex(*c->p))
					return false;
				c->p++;
			}
		} else if (!strchr("\"\\/bfnrt", ch)) {
			return false;
		}
	}
	return false;
}

static bool json_container(struct json_cursor *c, char close, bool object)
{
	bool first = true;

	if (++c->depth > 32)
		return false;
	c->p++;
	for (;;) {
		json_ws(c);
		if (c->p < c->end && *c->p == close && first) {
			c->p++;
			break;
		}
		if (object) {
			if (!json_string_ok(c))
				return false;
			json_ws(c);
			if (c->p >= c->end || *c->p++ != ':')
				return false;
		}
		if (!json_value(c))
			return false;
		json_ws(c);
		if (c->p >= c->end)
			return false;
		if (*c->p == ',') {
			c->p++;
			first = false;
			json_ws(c);
			if (c->p < c->end && *c->p == close)
				return false; /* trailing comma */
			continue;
		}
		if (*c->p++ != close)
			return false;
		break;
	}
	c->depth--;
	return true;
}

static bool json_value(struct json_cursor *c)
{
	json_ws(c);
	if (c->p >= c->end)
		return false;
	switch (*c->p) {
	case '{':
		return json_container(c, '}', true);
	case '[':
		return json_container(c, ']', false);
	case '"':
		return json_string_ok(c);
	case 't':
		return json_lit(c, "true");
	case 'f':
		return json_lit(c, "false");
	case 'n':
		return json_lit(c, "null");
	default:
		return json_number_ok(c);
	}
}

static bool json_valid(const char *text)
{
	struct json_cursor c = { .p = text, .end = text + strlen(text) };

	if (!json_value(&c))
		return false;
	json_ws(&c);
	return c.p == c.end;
}

/* ---- helpers ---- */

static const char good_output[] =
	"kvmini-init: start 0.512000\r\n"
	"kvmini-bench name=int_ops value=1234.5 unit=Mop/s better=higher\r\n"
	"[    1.234] random kernel line\n"
	"kvmini-bench name=mem_lat_16k value=1.25 unit=ns better=lower\n"
	"kvmini-bench name=file_fsync error=open /dev/vda: No such file or directory\n"
	"kvmini-bench   name=clock_gettime   value=2.5e1 unit=ns better=lower  \r\n"
	"kvmini-bench done tests=4\r\n";

static struct bench_run *parse(const char *text)
{
	struct bench_run *run = malloc(sizeof(*run));

	assert_non_null(run);
	bench_parse_output(text, strlen(text), run);
	return run;
}

static int line_kind(const char *line, struct bench_result *res, struct error *err)
{
	unsigned int done = 12345;

	memset(err, 0, sizeof(*err));
	return bench_parse_line(line, strlen(line), res, &done, err);
}

static void expect_rejected(const char *line, const char *why)
{
	struct bench_result res;
	struct error err;

	if (line_kind(line, &res, &err) != -EINVAL)
		fail_msg("accepted: %s", line);
	if (!strstr(err.msg, why))
		fail_msg("'%s': message '%s' lacks '%s'", line, err.msg, why);
}

static char *to_string(int (*writer)(FILE *, const struct bench_report *),
		       const struct bench_report *rep)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(writer(f, rep), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static const struct bench_meta test_meta = {
	.date = "2025-01-31T12:00:00Z",
	.host_release = "6.1.0-test",
	.cpu_model = "Test CPU \"quoted\" \\ \xc3\xa9",
	.guest_kernel = "/boot/vmlinuz-6.1.0-test",
	.quick = true,
};

static struct bench_report *report_of(const char *native_text, const char *guest_text)
{
	struct bench_run *native = parse(native_text), *guest = parse(guest_text);
	struct bench_report *rep = malloc(sizeof(*rep));

	assert_non_null(rep);
	bench_report_build(rep, &test_meta, native, guest);
	free(native);
	free(guest);
	return rep;
}

static const struct bench_pair *pair_named(const struct bench_report *rep, const char *name)
{
	for (unsigned int i = 0; i < rep->nr_pairs; i++) {
		if (!strcmp(rep->pairs[i].name, name))
			return &rep->pairs[i];
	}
	fail_msg("no pair %s", name);
	return NULL;
}

/* ---- tests ---- */

static void test_parse_good_output(void **state)
{
	struct bench_run *run = parse(good_output);
	const struct bench_result *r;

	assert_int_equal(run->nr_problems, 0);
	assert_true(run->done);
	assert_int_equal(run->done_tests, 4);
	assert_int_equal(run->nr_results, 4);

	r = bench_run_find(run, "int_ops");
	assert_non_null(r);
	assert_false(r->failed);
	assert_true(r->value == 1234.5);
	assert_string_equal(r->unit, "Mop/s");
	assert_int_equal(r->better, BENCH_BETTER_HIGHER);

	r = bench_run_find(run, "mem_lat_16k");
	assert_non_null(r);
	assert_true(r->value == 1.25);
	assert_int_equal(r->better, BENCH_BETTER_LOWER);

	r = bench_run_find(run, "clock_gettime");
	assert_non_null(r);
	assert_true(r->value == 25.0);
	assert_string_equal(r->unit, "ns");

	assert_null(bench_run_find(run, "tcp_rr"));
	assert_int_equal(bench_run_check_done(run, NULL, NULL), 0);
	free(run);
}

static void test_parse_error_line(void **state)
{
	struct bench_run *run = parse(good_output);
	const struct bench_result *r = bench_run_find(run, "file_fsync");
	struct bench_result res;
	struct error err;

	assert_non_null(r);
	assert_true(r->failed);
	assert_string_equal(r->error, "open /dev/vda: No such file or directory");
	free(run);

	assert_int_equal(line_kind("kvmini-bench name=x error=", &res, &err), BENCH_LINE_RESULT);
	assert_true(res.failed);
	assert_string_equal(res.error, "(no reason given)");
	/* A value and an error for one test is a contradiction. */
	expect_rejected("kvmini-bench name=x value=1 error=boom", "error= with value=");
	expect_rejected("kvmini-bench error=boom", "without name=");
}

static void test_parse_rejects_bad_values(void **state)
{
	expect_rejected("kvmini-bench name=a value=nan unit=ns better=lower", "not a finite");
	expect_rejected("kvmini-bench name=a value=inf unit=ns better=lower", "not a finite");
	expect_rejected("kvmini-bench name=a value=-inf unit=ns better=lower", "not a finite");
	expect_rejected("kvmini-bench name=a value=-3 unit=ns better=lower", "not a positive");
	expect_rejected("kvmini-bench name=a value=0 unit=ns better=lower", "not a positive");
	expect_rejected("kvmini-bench name=a value=0.0 unit=ns better=lower", "not a positive");
	expect_rejected("kvmini-bench name=a value=12abc unit=ns better=lower", "not a number");
	expect_rejected("kvmini-bench name=a value= unit=ns better=lower", "empty value=");
	expect_rejected("kvmini-bench name=a value=1e999 unit=ns better=lower", "not a finite");
}

static void test_parse_rejects_bad_fields(void **state)
{
	char longname[128];
	struct bench_result res;
	struct error err;

	expect_rejected("kvmini-bench name=a value=1 unit=ns better=faster",
			"want lower or higher");
	expect_rejected("kvmini-bench name=a value=1 unit=ns better=", "want lower or higher");
	expect_rejected("kvmini-bench name=a value=1 unit=ns", "missing better=");
	expect_rejected("kvmini-bench name=a value=1 better=lower", "missing unit=");
	expect_rejected("kvmini-bench name=a unit=ns better=lower", "missing value=");
	expect_rejected("kvmini-bench value=1 unit=ns better=lower", "without name=");
	expect_rejected("kvmini-bench name= value=1 unit=ns better=lower", "not a test id");
	expect_rejected("kvmini-bench name=a\"b value=1 unit=ns better=lower", "not a test id");
	expect_rejected("kvmini-bench name=a value=1 unit=n\"s better=lower", "not a unit");
	expect_rejected("kvmini-bench name=a value=1 unit=ns better=lower color=red",
			"unknown field 'color'");
	expect_rejected("kvmini-bench name=a value=1 value=2 unit=ns better=lower", "given twice");
	expect_rejected("kvmini-bench name=a garbage value=1 unit=ns better=lower",
			"'garbage' is not a key=value");
	expect_rejected("kvmini-bench hello world", "'hello' is not a key=value");
	expect_rejected("kvmini-bench", "empty protocol line");
	expect_rejected("kvmini-bench done", "without tests=");
	expect_rejected("kvmini-bench done tests=x", "not a count");
	expect_rejected("kvmini-bench done tests=3 extra", "not a count");
	expect_rejected("[  2.1] oops kvmini-bench name=a value=1 unit=ns better=lower",
			"after other output");
	expect_rejected("garbagekvmini-bench done tests=1", "after other output");

	memset(longname, 'a', sizeof(longname));
	memcpy(longname, "kvmini-bench name=", 18);
	snprintf(longname + 18 + BENCH_NAME_MAX, sizeof(longname) - 18 - BENCH_NAME_MAX,
		 " value=1 unit=ns better=lower");
	expect_rejected(longname, "not a test id");

	/* Not protocol: ignored, not flagged. */
	assert_int_equal(line_kind("", &res, &err), BENCH_LINE_OTHER);
	assert_int_equal(line_kind("benchsuite: starting", &res, &err), BENCH_LINE_OTHER);
	assert_int_equal(line_kind("kvmini-benchsuite rocks", &res, &err), BENCH_LINE_OTHER);
	/* Case matters for the keyword. */
	expect_rejected("kvmini-bench DONE tests=1", "'DONE' is not a key=value");
}

static void test_parse_output_problems(void **state)
{
	struct bench_run *run = parse("kvmini-bench name=a value=1 unit=ns better=lower\n"
				      "kvmini-bench name=a value=2 unit=ns better=lower\n"
				      "kvmini-bench name=b value=nan unit=ns better=lower\n"
				      "kvmini-bench done tests=3\n"
				      "kvmini-bench name=c value=1 unit=ns better=lower\n"
				      "kvmini-bench done tests=1\n");

	assert_int_equal(run->nr_results, 1);
	assert_true(run->results[0].value == 1.0); /* the first of two wins */
	assert_true(run->done);
	assert_int_equal(run->nr_problems, 5);
	assert_non_null(strstr(run->problems[0], "line 2: second result for test a"));
	assert_non_null(strstr(run->problems[1], "line 3: test b"));
	assert_non_null(strstr(run->problems[2], "line 4: done says tests=3 but 1 results"));
	assert_non_null(strstr(run->problems[3], "line 5: result for c after the done line"));
	assert_non_null(strstr(run->problems[4], "line 6: second done line"));
	assert_null(bench_run_find(run, "c"));
	free(run);
}

static void test_parse_output_no_trailing_newline_and_cap(void **state)
{
	size_t cap = (BENCH_MAX_TESTS + BENCH_MAX_PROBLEMS + 4) * 64;
	char *text = malloc(cap);
	struct bench_run *run;
	size_t len = 0;

	assert_non_null(text);
	/* More tests than fit, and more problems than are kept. */
	for (int i = 0; i < BENCH_MAX_TESTS + 2; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"kvmini-bench name=t%d value=1 unit=ns better=lower\n", i);
	for (int i = 0; i < BENCH_MAX_PROBLEMS + 2; i++)
		len += (size_t)snprintf(text + len, cap - len, "kvmini-bench junk\n");
	len += (size_t)snprintf(text + len, cap - len, "kvmini-bench done tests=%d",
				BENCH_MAX_TESTS);
	run = parse(text);
	assert_int_equal(run->nr_results, BENCH_MAX_TESTS);
	assert_true(run->done);
	assert_int_equal(run->nr_problems, 2 + BENCH_MAX_PROBLEMS + 2);
	assert_non_null(strstr(run->problems[0], "more than"));
	free(run);
	free(text);
}

static void test_check_done(void **state)
{
	struct bench_run *native = parse("kvmini-bench name=a value=1 unit=ns better=lower\n"
					 "kvmini-bench name=b value=1 unit=ns better=lower\n"
					 "kvmini-bench done tests=2\n");
	struct bench_run *all = parse("kvmini-bench name=a value=2 unit=ns better=lower\n"
				      "kvmini-bench name=b error=timeout\n");
	struct bench_run *cut = parse("kvmini-bench name=a value=2 unit=ns better=lower\n");
	struct bench_run *none = parse("Kernel panic\n");
	struct error err = { 0 };

	/* The guest's lost last line: tolerated when every test arrived. */
	assert_int_equal(bench_run_check_done(all, native, &err), 1);
	assert_int_equal(bench_run_check_done(all, NULL, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "no 'kvmini-bench done' line"));
	assert_int_equal(bench_run_check_done(cut, native, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "1 of 2 tests missing"));
	assert_int_equal(bench_run_check_done(none, native, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "no benchsuite results"));
	free(native);
	free(all);
	free(cut);
	free(none);
}

static void test_ratio_both_directions(void **state)
{
	struct bench_report *rep =
		report_of("kvmini-bench name=hi value=100 unit=Mop/s better=higher\n"
			  "kvmini-bench name=lo value=10 unit=ns better=lower\n"
			  "kvmini-bench done tests=2\n",
			  "kvmini-bench name=lo value=20 unit=ns better=lower\n"
			  "kvmini-bench name=hi value=80 unit=Mop/s better=higher\n"
			  "kvmini-bench done tests=2\n");
	const struct bench_pair *hi, *lo;
	struct error err = { 0 };

	assert_int_equal(rep->nr_pairs, 2);
	assert_string_equal(rep->pairs[0].name, "hi"); /* native order */
	hi = pair_named(rep, "hi");
	lo = pair_named(rep, "lo");
	assert_int_equal(hi->status, BENCH_PAIR_OK);
	assert_true(fabs(hi->ratio - 0.8) < 1e-12);
	assert_true(fabs(hi->relative - 0.8) < 1e-12);
	assert_int_equal(lo->status, BENCH_PAIR_OK);
	assert_true(fabs(lo->ratio - 2.0) < 1e-12);
	assert_true(fabs(lo->relative - 0.5) < 1e-12); /* twice the latency: half as good */
	assert_int_equal(bench_report_check(rep, &err), 0);
	free(rep);
}

static void test_pairing_missing_and_failed(void **state)
{
	struct bench_report *rep =
		report_of("kvmini-bench name=a value=1 unit=ns better=lower\n"
			  "kvmini-bench name=gone value=5 unit=ns better=lower\n"
			  "kvmini-bench name=nfail error=native broke\n"
			  "kvmini-bench name=gfail value=3 unit=us better=lower\n"
			  "kvmini-bench name=units value=3 unit=us better=lower\n"
			  "kvmini-bench done tests=5\n",
			  "kvmini-bench name=a value=1 unit=ns better=lower\n"
			  "kvmini-bench name=nfail value=2 unit=ms better=lower\n"
			  "kvmini-bench name=gfail error=guest broke\n"
			  "kvmini-bench name=units value=3 unit=ms better=lower\n"
			  "kvmini-bench name=extra value=9 unit=ns better=higher\n"
			  "kvmini-bench done tests=5\n");
	const struct bench_pair *p;
	struct error err = { 0 };

	assert_int_equal(rep->nr_pairs, 6);
	assert_int_equal(pair_named(rep, "a")->status, BENCH_PAIR_OK);

	p = pair_named(rep, "gone");
	assert_int_equal(p->status, BENCH_PAIR_MISSING_GUEST);
	assert_true(p->has_native);
	assert_false(p->has_guest);
	assert_true(isnan(p->ratio));

	p = pair_named(rep, "nfail");
	assert_int_equal(p->status, BENCH_PAIR_FAILED_NATIVE);
	assert_string_equal(p->native_error, "native broke");
	assert_string_equal(p->unit, "ms"); /* from the side that has one */

	p = pair_named(rep, "gfail");
	assert_int_equal(p->status, BENCH_PAIR_FAILED_GUEST);
	assert_string_equal(p->guest_error, "guest broke");

	assert_int_equal(pair_named(rep, "units")->status, BENCH_PAIR_MISMATCH);

	p = pair_named(rep, "extra");
	assert_int_equal(p->status, BENCH_PAIR_MISSING_NATIVE);
	assert_ptr_equal(p, &rep->pairs[5]); /* guest-only tests come last */

	assert_int_equal(bench_report_check(rep, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "5 of 6 tests failed"));
	assert_non_null(strstr(err.msg, "test gone missing in the guest run"));
	assert_non_null(strstr(err.msg, "test nfail failed in the native run (native broke)"));
	assert_non_null(strstr(err.msg, "test gfail failed in the guest run (guest broke)"));
	assert_non_null(strstr(err.msg, "test extra missing in the native run"));
	assert_null(strchr(err.msg, '\n'));
	free(rep);
}

static void test_check_ratio_overflow_and_empty(void **state)
{
	struct bench_report *rep =
		report_of("kvmini-bench name=a value=1e-300 unit=s better=lower\n",
			  "kvmini-bench name=a value=1e300 unit=s better=lower\n");
	struct error err = { 0 };

	assert_int_equal(rep->pairs[0].status, BENCH_PAIR_OK);
	assert_false(isfinite(rep->pairs[0].ratio));
	assert_int_equal(bench_report_check(rep, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "not a finite positive number"));
	free(rep);

	rep = report_of("", "");
	assert_int_equal(rep->nr_pairs, 0);
	assert_int_equal(bench_report_check(rep, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "no test results"));
	free(rep);
}

static void test_text_table(void **state)
{
	struct bench_report *rep = report_of(
		good_output, "kvmini-bench name=int_ops value=617.25 unit=Mop/s better=higher\n"
			     "kvmini-bench name=mem_lat_16k value=2.5 unit=ns better=lower\n");
	char *text = to_string(bench_write_text, rep);

	assert_non_null(strstr(text, "guest/native"));
	assert_non_null(strstr(text, "guest perf (1.0 = native)"));
	assert_non_null(strstr(text, "(quick run)"));
	assert_non_null(strstr(text, "6.1.0-test"));
	/* int_ops: ratio 0.5, higher is better; mem_lat_16k: ratio 2, perf 0.5. */
	assert_non_null(strstr(text, "0.500  higher  0.500 (native better)"));
	assert_non_null(strstr(text, "2.000  lower   0.500 (native better)"));
	assert_non_null(strstr(text, "missing"));
	assert_non_null(strstr(text, "file_fsync: native error: open /dev/vda"));
	free(text);
	free(rep);
}

static void test_json_valid(void **state)
{
	struct bench_report *rep = report_of(
		good_output, "kvmini-bench name=int_ops value=617.25 unit=Mop/s better=higher\n"
			     "kvmini-bench name=file_fsync error=bad \"quote\" \\ \x01 \xff\n"
			     "kvmini-bench name=only_guest value=3 unit=ns better=lower\n");
	char *json = to_string(bench_write_json, rep);

	assert_true(json_valid(json));
	assert_non_null(strstr(json, "\"schema\": \"kvmini-bench-report/1\""));
	assert_non_null(strstr(json, "\"quick\": true"));
	assert_non_null(strstr(json, "\"cpu_model\": \"Test CPU \\\"quoted\\\" \\\\ ??\""));
	assert_non_null(
		strstr(json, "\"name\": \"int_ops\", \"unit\": \"Mop/s\", \"better\": \"higher\""));
	assert_non_null(strstr(json, "\"native\": 1234.5, \"guest\": 617.25, \"ratio\": 0.5, "
				     "\"relative_performance\": 0.5"));
	assert_non_null(strstr(json, "\"guest\": null, \"ratio\": null"));
	assert_non_null(strstr(json, "\"status\": \"missing_guest\""));
	assert_non_null(strstr(json, "\"status\": \"missing_native\""));
	assert_non_null(strstr(json, "\"guest_error\": \"bad \\\"quote\\\" \\\\ \\u0001 ?\""));
	free(json);
	free(rep);

	rep = report_of("", "");
	json = to_string(bench_write_json, rep);
	assert_true(json_valid(json));
	assert_non_null(strstr(json, "\"tests\": []"));
	free(json);
	free(rep);
}

/* The checker must reject what a careless writer would produce. */
static void test_json_checker_rejects(void **state)
{
	assert_true(json_valid("{\"a\": [1, -2.5e+3, true, null, \"x\\u00e9\"]}"));
	assert_false(json_valid("{\"a\": nan}"));
	assert_false(json_valid("{\"a\": inf}"));
	assert_false(json_valid("{\"a\": 1,}"));
	assert_false(json_valid("{\"a\" 1}"));
	assert_false(json_valid("{\"a\": \"tab\there\"}"));
	assert_false(json_valid("{\"a\": \"\xc3\xa9\"}"));
	assert_false(json_valid("{\"a\": 01}"));
	assert_false(json_valid("{\"a\": 1} x"));
	assert_false(json_valid("[1, 2"));
	assert_false(json_valid("{\"a\": \"\\x\"}"));
}

static void test_gnuplot_script(void **state)
{
	struct bench_report *rep =
		report_of("kvmini-bench name=hi value=100 unit=Mop/s better=higher\n"
			  "kvmini-bench name=lo value=10 unit=ns better=lower\n"
			  "kvmini-bench name=gone value=10 unit=ns better=lower\n",
			  "kvmini-bench name=hi value=150 unit=Mop/s better=higher\n"
			  "kvmini-bench name=lo value=20 unit=ns better=lower\n");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(bench_write_gnuplot(f, rep, "out/it's/report.svg"), 0);
	fclose(f);
	assert_non_null(strstr(buf, "set terminal svg"));
	assert_non_null(strstr(buf, "set output 'out/it''s/report.svg'\n"));
	assert_non_null(strstr(buf, "(quick run)"));
	assert_non_null(strstr(buf, "1.0 = native, higher = better\\n"));
	assert_non_null(strstr(buf, "native/guest for lower-is-better"));
	assert_non_null(strstr(buf, "set arrow 1 from 1, graph 0 to 1, graph 1 nohead"));
	/* hi: guest 1.5x native; lo: twice the latency, 0.5; gone: no bar. */
	assert_non_null(
		strstr(buf, "$bench << EOD\n0 \"hi\" 1.5 0x2ca02c\n1 \"lo\" 0.5 0xd62728\nEOD\n"));
	assert_null(strstr(buf, "gone"));
	assert_non_null(strstr(buf, "set yrange [1.4:-0.6]\n"));
	assert_non_null(strstr(buf, "set xrange [0:1.725]")); /* 1.5 * 1.15 */
	assert_non_null(strstr(buf, "with boxxyerror"));
	assert_non_null(strstr(buf, "noenhanced")); /* '_' in names is not a subscript */
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(bench_write_gnuplot(f, rep, "bad\npath.svg"), -EINVAL);
	fclose(f);
	free(buf);
	free(rep);

	rep = report_of("kvmini-bench name=a value=1 unit=ns better=lower\n", "");
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(bench_write_gnuplot(f, rep, "x.svg"), -ENODATA);
	fclose(f);
	free(buf);
	free(rep);
}

static void test_cpu_model(void **state)
{
	static const char info[] = "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
				   "model\t\t: 1\nmodel name\t: AMD EPYC 7B13 64-Core Processor  \n"
				   "model name\t: second\n";
	char out[64];

	bench_cpu_model(info, strlen(info), out, sizeof(out));
	assert_string_equal(out, "AMD EPYC 7B13 64-Core Processor");
	bench_cpu_model("model\t: 3\n", 10, out, sizeof(out));
	assert_string_equal(out, "unknown");
	bench_cpu_model("model name\t:\nmodel name : x", 27, out, sizeof(out));
	assert_string_equal(out, "x");
	bench_cpu_model(info, strlen(info), out, 8);
	assert_string_equal(out, "AMD EPY");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good_output),
		cmocka_unit_test(test_parse_error_line),
		cmocka_unit_test(test_parse_rejects_bad_values),
		cmocka_unit_test(test_parse_rejects_bad_fields),
		cmocka_unit_test(test_parse_output_problems),
		cmocka_unit_test(test_parse_output_no_trailing_newline_and_cap),
		cmocka_unit_test(test_check_done),
		cmocka_unit_test(test_ratio_both_directions),
		cmocka_unit_test(test_pairing_missing_and_failed),
		cmocka_unit_test(test_check_ratio_overflow_and_empty),
		cmocka_unit_test(test_text_table),
		cmocka_unit_test(test_json_valid),
		cmocka_unit_test(test_json_checker_rejects),
		cmocka_unit_test(test_gnuplot_script),
		cmocka_unit_test(test_cpu_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
