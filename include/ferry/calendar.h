/* ferry: the proleptic Gregorian calendar, for the parsers of dates and times and the MySQL
 * DATETIME text. Pure functions; any thread. */
#ifndef FERRY_CALENDAR_H
#define FERRY_CALENDAR_H

#include <stdbool.h>
#include <stdint.h>

#define FERRY_MS_PER_DAY 86400000LL

bool ferry_cal_is_leap(int64_t year);
/* Days in month m (1..12) of year. */
int ferry_cal_month_days(int64_t year, int m);
/* Days from 1970-01-01 to year-m-d (year >= 1, m 1..12, d 1..31); negative before 1970. */
int64_t ferry_cal_days_from_date(int64_t year, int m, int d);
/* Reads exactly n ASCII digits (no sign, no blank) at s into *out: 0, or -1 with *out
 * untouched. */
int ferry_cal_digits(const char *s, int n, int *out);

#endif
