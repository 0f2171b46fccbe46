using System.Text.Json;
using System.Text.Json.Serialization;

namespace Analytics.Silo.Api;

/// <summary>Every error answer is {"error": "..."}, as the contract says.</summary>
public static class ApiError
{
    public static IResult BadRequest(string message) => Results.Json(new ErrorBody(message), ApiJson.Options, statusCode: StatusCodes.Status400BadRequest);

    public static IResult NotFound(string message) => Results.Json(new ErrorBody(message), ApiJson.Options, statusCode: StatusCodes.Status404NotFound);

    public static IResult TooLarge(string message) => Results.Json(new ErrorBody(message), ApiJson.Options, statusCode: StatusCodes.Status413PayloadTooLarge);

    public static IResult Unavailable(string message) => Results.Json(new ErrorBody(message), ApiJson.Options, statusCode: StatusCodes.Status503ServiceUnavailable);

    public sealed record ErrorBody(string Error);
}

public static class ApiJson
{
    /// <summary>camelCase, and tolerant of infinite sums (two values near double.MaxValue add up to infinity).</summary>
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}
