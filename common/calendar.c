/* ferry: the proleptic Gregorian calendar. */
#include "ferry/calendar.h"

bool ferry_cal_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int ferry_cal_month_days(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return days[m - 1] + (m == 2 && ferry_cal_is_leap(y));
}

int64_t ferry_cal_days_from_date(int64_t y, int m, int d)
{
    static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t leaps = (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400 - 477; /* 477 before 1970 */
    return 365 * (y - 1970) + leaps + before[m - 1] + (m > 2 && ferry_cal_is_leap(y)) + d - 1;
}

int ferry_cal_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}
