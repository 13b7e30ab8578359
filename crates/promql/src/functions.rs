//! The PromQL function table: every function of Prometheus 3.x with its argument types, how many
//! optional trailing arguments it takes, its return type and whether it is experimental.
//!
//! The parser type-checks calls against this table with Prometheus's rules: a function with
//! [`variadic`](Function::variadic) `0` takes exactly its [`arg_types`](Function::arg_types);
//! with `n > 0` the last argument type may be left out or repeated up to `n` times in total;
//! with `-1` it may be repeated any number of times (but is needed at least once less than the
//! listed count).
//!
//! ```
//! use prom_promql::ast::ValueType;
//! use prom_promql::functions::Function;
//!
//! let rate = Function::lookup("rate").unwrap();
//! assert_eq!(rate.arg_types, &[ValueType::Matrix]);
//! assert_eq!(rate.return_type, ValueType::Vector);
//! assert_eq!(Function::lookup("round").unwrap().arg_range(), (1, Some(2)));
//! assert_eq!(Function::lookup("label_join").unwrap().arg_range(), (3, None));
//! assert!(Function::lookup("RATE").is_none(), "function names are case-sensitive");
//! ```

use crate::ast::ValueType;

/// One PromQL function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Function {
    /// The name as written in a query (`rate`).
    pub name: &'static str,
    /// The types of the arguments, in order.
    pub arg_types: &'static [ValueType],
    /// `0`: exactly `arg_types.len()` arguments. `n > 0`: the last argument is optional and its
    /// type may be repeated, for up to `arg_types.len() - 1 + n` arguments. `-1`: the last
    /// argument type may be repeated without limit (at least `arg_types.len() - 1` arguments).
    pub variadic: i32,
    /// The type of the value the call returns.
    pub return_type: ValueType,
    /// Whether Prometheus hides the function behind `--enable-feature=promql-experimental-functions`.
    pub experimental: bool,
}

impl Function {
    /// The function named `name` (case-sensitive), if PromQL has one.
    pub fn lookup(name: &str) -> Option<&'static Function> {
        FUNCTIONS
            .binary_search_by(|f| f.name.cmp(name))
            .ok()
            .map(|i| &FUNCTIONS[i])
    }

    /// Every function, sorted by name.
    pub fn all() -> &'static [Function] {
        FUNCTIONS
    }

    /// The smallest and largest number of arguments a call may have (`None`: no limit).
    pub fn arg_range(&self) -> (usize, Option<usize>) {
        let n = self.arg_types.len();
        match self.variadic {
            0 => (n, Some(n)),
            v if v > 0 => (n - 1, Some(n - 1 + v as usize)),
            _ => (n - 1, None),
        }
    }

    /// The expected type of argument `i` (0-based), or `None` past the last one allowed.
    pub fn arg_type(&self, i: usize) -> Option<ValueType> {
        match self.arg_types.get(i) {
            Some(t) => Some(*t),
            None if self.variadic != 0 => self.arg_types.last().copied(),
            None => None,
        }
    }

    /// Whether the function belongs to the duration-expression feature (`step()`, `range()`,
    /// `start()`, `end()`, `min_of()`, `max_of()`), which Prometheus gates behind
    /// `--enable-feature=promql-duration-expr`. These names are keywords: they are matched
    /// case-insensitively and also serve as metric names when no `(` follows.
    pub fn is_duration_function(&self) -> bool {
        matches!(
            self.name,
            "step" | "range" | "start" | "end" | "min_of" | "max_of"
        )
    }
}

use ValueType::{Matrix as M, Scalar as S, String as Str, Vector as V};

const fn f(
    name: &'static str,
    arg_types: &'static [ValueType],
    variadic: i32,
    return_type: ValueType,
    experimental: bool,
) -> Function {
    Function {
        name,
        arg_types,
        variadic,
        return_type,
        experimental,
    }
}

/// Sorted by name (checked by a unit test) so lookups can binary-search.
static FUNCTIONS: &[Function] = &[
    f("abs", &[V], 0, V, false),
    f("absent", &[V], 0, V, false),
    f("absent_over_time", &[M], 0, V, false),
    f("acos", &[V], 0, V, false),
    f("acosh", &[V], 0, V, false),
    f("asin", &[V], 0, V, false),
    f("asinh", &[V], 0, V, false),
    f("atan", &[V], 0, V, false),
    f("atanh", &[V], 0, V, false),
    f("avg_over_time", &[M], 0, V, false),
    f("ceil", &[V], 0, V, false),
    f("changes", &[M], 0, V, false),
    f("clamp", &[V, S, S], 0, V, false),
    f("clamp_max", &[V, S], 0, V, false),
    f("clamp_min", &[V, S], 0, V, false),
    f("cos", &[V], 0, V, false),
    f("cosh", &[V], 0, V, false),
    f("count_over_time", &[M], 0, V, false),
    f("day_of_month", &[V], 1, V, false),
    f("day_of_week", &[V], 1, V, false),
    f("day_of_year", &[V], 1, V, false),
    f("days_in_month", &[V], 1, V, false),
    f("deg", &[V], 0, V, false),
    f("delta", &[M], 0, V, false),
    f("deriv", &[M], 0, V, false),
    f("double_exponential_smoothing", &[M, S, S], 0, V, true),
    f("end", &[], 0, S, false),
    f("exp", &[V], 0, V, false),
    f("first_over_time", &[M], 0, V, true),
    f("floor", &[V], 0, V, false),
    f("histogram_avg", &[V], 0, V, false),
    f("histogram_count", &[V], 0, V, false),
    f("histogram_fraction", &[S, S, V], 0, V, false),
    f("histogram_quantile", &[S, V], 0, V, false),
    f("histogram_quantiles", &[V, Str, S, S], -1, V, true),
    f("histogram_stddev", &[V], 0, V, false),
    f("histogram_stdvar", &[V], 0, V, false),
    f("histogram_sum", &[V], 0, V, false),
    f("hour", &[V], 1, V, false),
    f("idelta", &[M], 0, V, false),
    f("increase", &[M], 0, V, false),
    f("info", &[V, V], 1, V, true),
    f("irate", &[M], 0, V, false),
    f("label_join", &[V, Str, Str, Str], -1, V, false),
    f("label_replace", &[V, Str, Str, Str, Str], 0, V, false),
    f("last_over_time", &[M], 0, V, false),
    f("ln", &[V], 0, V, false),
    f("log10", &[V], 0, V, false),
    f("log2", &[V], 0, V, false),
    f("mad_over_time", &[M], 0, V, true),
    f("max_of", &[S, S], 0, S, false),
    f("max_over_time", &[M], 0, V, false),
    f("min_of", &[S, S], 0, S, false),
    f("min_over_time", &[M], 0, V, false),
    f("minute", &[V], 1, V, false),
    f("month", &[V], 1, V, false),
    f("pi", &[], 0, S, false),
    f("predict_linear", &[M, S], 0, V, false),
    f("present_over_time", &[M], 0, V, false),
    f("quantile_over_time", &[S, M], 0, V, false),
    f("rad", &[V], 0, V, false),
    f("range", &[], 0, S, false),
    f("rate", &[M], 0, V, false),
    f("resets", &[M], 0, V, false),
    f("round", &[V, S], 1, V, false),
    f("scalar", &[V], 0, S, false),
    f("sgn", &[V], 0, V, false),
    f("sin", &[V], 0, V, false),
    f("sinh", &[V], 0, V, false),
    f("sort", &[V], 0, V, false),
    f("sort_by_label", &[V, Str], -1, V, true),
    f("sort_by_label_desc", &[V, Str], -1, V, true),
    f("sort_desc", &[V], 0, V, false),
    f("sqrt", &[V], 0, V, false),
    f("start", &[], 0, S, false),
    f("start_timestamp", &[V], 0, V, true),
    f("stddev_over_time", &[M], 0, V, false),
    f("stdvar_over_time", &[M], 0, V, false),
    f("step", &[], 0, S, false),
    f("sum_over_time", &[M], 0, V, false),
    f("tan", &[V], 0, V, false),
    f("tanh", &[V], 0, V, false),
    f("time", &[], 0, S, false),
    f("timestamp", &[V], 0, V, false),
    f("ts_of_first_over_time", &[M], 0, V, true),
    f("ts_of_last_over_time", &[M], 0, V, true),
    f("ts_of_max_over_time", &[M], 0, V, true),
    f("ts_of_min_over_time", &[M], 0, V, true),
    f("vector", &[S], 0, V, false),
    f("year", &[V], 1, V, false),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in FUNCTIONS.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
    }

    #[test]
    fn every_function_is_found() {
        for func in Function::all() {
            assert_eq!(Function::lookup(func.name).unwrap().name, func.name);
        }
        assert!(
            Function::lookup("holt_winters").is_none(),
            "renamed in Prometheus 3"
        );
    }

    #[test]
    fn argument_ranges_follow_variadic() {
        let r = |n| Function::lookup(n).unwrap().arg_range();
        assert_eq!(r("time"), (0, Some(0)));
        assert_eq!(r("hour"), (0, Some(1)));
        assert_eq!(r("info"), (1, Some(2)));
        assert_eq!(r("sort_by_label"), (1, None));
        assert_eq!(r("histogram_quantiles"), (3, None));
        let lj = Function::lookup("label_join").unwrap();
        assert_eq!(lj.arg_type(7), Some(ValueType::String));
        assert_eq!(Function::lookup("abs").unwrap().arg_type(1), None);
    }
}
