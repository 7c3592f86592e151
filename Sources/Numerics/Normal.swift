import CGSL

/// The standard normal distribution (GSL randist / cdf / sf_erf).
public enum StandardNormal {
    public static func pdf(_ x: Double) -> Double { gsl_ran_ugaussian_pdf(x) }
    public static func cdf(_ x: Double) -> Double { gsl_cdf_ugaussian_P(x) }
    /// Upper tail 1 − Φ(x), accurate for large x.
    public static func survival(_ x: Double) -> Double { gsl_cdf_ugaussian_Q(x) }
    public static func quantile(_ p: Double) -> Double { gsl_cdf_ugaussian_Pinv(p) }
    /// log Φ(x), accurate far into the lower tail: log Φ(x) = log erfc(−x/√2) − log 2.
    public static func logCDF(_ x: Double) -> Double {
        GSL.setUp()
        return gsl_sf_log_erfc(-x / 2.0.squareRoot()) - log(2.0)
    }
}
