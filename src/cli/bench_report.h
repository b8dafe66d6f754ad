/* SPDX-License-Identifier: MIT */
/*
 * `kvmini bench`'s pure half: parse guest/benchsuite.c's output, pair a
 * native run with a guest run, and write the report (text, JSON, gnuplot).
 * No I/O besides the FILE streams handed in, so unit tests drive all of it.
 *
 * The protocol (one line each, on benchsuite's stdout; other lines ignored):
 *   kvmini-bench name=<id> value=<number> unit=<unit> better=<lower|higher>
 *   kvmini-bench name=<id> error=<reason to the end of the line>
 *   kvmini-bench done tests=<n>        n = result lines above (values + errors)
 *
 * report.json (schema "kvmini-bench-report/1"):
 *   {
 *     "schema": "kvmini-bench-report/1",
 *     "date": "2025-01-31T12:00:00Z",          (null when not known)
 *     "quick": false,                           (benchsuite --quick)
 *     "host": { "kernel_release": "6.1.0-..",   (uname -r)
 *               "cpu_model": ".." },            (/proc/cpuinfo "model name")
 *     "guest": { "kernel": "/boot/vmlinuz-.." },
 *     "tests": [ {
 *         "name": "int_ops", "unit": "Mop/s",
 *         "better": "higher",                   ("lower", "higher" or null)
 *         "native": 123.4, "guest": 120.1,      (null when missing)
 *         "ratio": 0.973,                       (guest / native, or null)
 *         "relative_performance": 0.973,        (1.0 = native, higher = better
 *                                                for every test: ratio for
 *                                                higher-is-better, 1/ratio for
 *                                                lower-is-better; or null)
 *         "status": "ok",                       (see bench_pair_status_name)
 *         "native_error": null, "guest_error": null   (benchsuite's error= text)
 *     }, ... ]
 *   }
 * Non-ASCII bytes in strings are written as '?', so the file is always valid
 * JSON whatever the guest printed.
 */
#ifndef KVMINI_CLI_BENCH_REPORT_H
#define KVMINI_CLI_BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

#define BENCH_LINE_PREFIX "kvmini-bench"
#define BENCH_MAX_TESTS 64
#define BENCH_NAME_MAX 48 /* including the NUL */
#define BENCH_UNIT_MAX 24
#define BENCH_ERROR_MAX 160
#define BENCH_MAX_PROBLEMS 8 /* kept verbatim; more are only counted */
#define BENCH_PROBLEM_MAX 200

enum bench_better {
	BENCH_BETTER_UNKNOWN, /* only in pairs whose two sides disagree or are absent */
	BENCH_BETTER_LOWER,
	BENCH_BETTER_HIGHER,
};

struct bench_result {
	char name[BENCH_NAME_MAX];
	char unit[BENCH_UNIT_MAX];
	enum bench_better better;
	double value; /* finite and > 0 unless failed */
	bool failed; /* an error= line */
	char error[BENCH_ERROR_MAX];
};

/* One parsed run. Protocol violations land in problems, never in results. */
struct bench_run {
	struct bench_result results[BENCH_MAX_TESTS];
	unsigned int nr_results;
	bool done; /* the done line arrived */
	unsigned int done_tests; /* its tests= */
	unsigned int nr_problems; /* all of them, even those not kept */
	char problems[BENCH_MAX_PROBLEMS][BENCH_PROBLEM_MAX];
};

enum bench_line_kind {
	BENCH_LINE_OTHER, /* not protocol: ignored */
	BENCH_LINE_RESULT, /* value= or error= */
	BENCH_LINE_DONE,
};

/*
 * Parse one line (without its newline; a trailing \r and blanks are
 * ignored). Returns the kind, or -EINVAL with one line in @err for a line
 * that is protocol but malformed (bad field, nan/inf/<=0 value, unknown
 * better=, protocol text after other output on the same line...).
 * @res is filled for BENCH_LINE_RESULT, @done_tests for BENCH_LINE_DONE.
 */
int bench_parse_line(const char *line, size_t len, struct bench_result *res,
		     unsigned int *done_tests, struct error *err);

/*
 * Parse a whole output buffer (need not be NUL-terminated; the last line may
 * lack its newline) into @run. Malformed lines, duplicate names, results
 * after the done line and a done count that disagrees are recorded in
 * run->problems with their line number. Never fails.
 */
void bench_parse_output(const char *buf, size_t len, struct bench_run *run);

const struct bench_result *bench_run_find(const struct bench_run *run, const char *name);

/*
 * Whether @run ended properly. 0: its done line arrived. 1: no done line, but
 * @reference is given and every test in it has a line in @run (the guest's
 * lost-last-line problem: the caller warns). -EPROTO with one line in @err
 * otherwise.
 */
int bench_run_check_done(const struct bench_run *run, const struct bench_run *reference,
			 struct error *err);

enum bench_pair_status {
	BENCH_PAIR_OK,
	BENCH_PAIR_MISSING_NATIVE,
	BENCH_PAIR_MISSING_GUEST,
	BENCH_PAIR_FAILED_NATIVE, /* error= in the native run */
	BENCH_PAIR_FAILED_GUEST,
	BENCH_PAIR_MISMATCH, /* unit or better= differ between the runs */
};

struct bench_pair {
	char name[BENCH_NAME_MAX];
	char unit[BENCH_UNIT_MAX];
	enum bench_better better;
	bool has_native, has_guest;
	double native, guest;
	double ratio; /* guest / native; NAN unless status is OK */
	double relative; /* 1.0 = native, higher = better; NAN unless OK */
	enum bench_pair_status status;
	char native_error[BENCH_ERROR_MAX];
	char guest_error[BENCH_ERROR_MAX];
};

struct bench_meta {
	const char *date; /* ISO 8601, or NULL */
	const char *host_release;
	const char *cpu_model;
	const char *guest_kernel;
	bool quick;
};

struct bench_report {
	struct bench_meta meta;
	struct bench_pair pairs[2 * BENCH_MAX_TESTS];
	unsigned int nr_pairs;
};

/* Pairs by name: the native run's order, then tests only the guest ran. */
void bench_report_build(struct bench_report *rep, const struct bench_meta *meta,
			const struct bench_run *native, const struct bench_run *guest);

/*
 * 0 when there is at least one pair and every pair is OK with a finite
 * positive ratio; else -EPROTO with one line in @err naming what failed
 * ("test file_fsync missing in the guest run; ...").
 */
int bench_report_check(const struct bench_report *rep, struct error *err);

const char *bench_better_name(enum bench_better b); /* "lower", "higher", "?" */
const char *bench_pair_status_name(enum bench_pair_status s); /* "ok", "missing_guest"... */

/* The table: test, unit, native, guest, guest/native, better, guest perf. */
int bench_write_text(FILE *f, const struct bench_report *rep);
int bench_write_json(FILE *f, const struct bench_report *rep);

/*
 * A gnuplot script drawing @svg_path: one horizontal bar per OK test, its
 * relative performance (1.0 = native, higher = better), a line at 1.0.
 * -ENODATA when no test is OK (nothing to draw), -EINVAL for a path gnuplot
 * cannot quote.
 */
int bench_write_gnuplot(FILE *f, const struct bench_report *rep, const char *svg_path);

/* The first "model name" in a /proc/cpuinfo text; "unknown" when none. */
void bench_cpu_model(const char *cpuinfo, size_t len, char *out, size_t outlen);

#endif
