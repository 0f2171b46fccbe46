using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Messaging;

public sealed class MessagingOptions
{
    /// <summary>A call that has no response after this long fails with GrainCallTimeoutException.</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a request may be forwarded between silos whose views disagree.</summary>
    public int MaxForwardCount { get; set; } = 2;
}

internal sealed class MessagingOptionsValidator : IValidateOptions<MessagingOptions>
{
    public ValidateOptionsResult Validate(string? name, MessagingOptions options) =>
        options.ResponseTimeout <= TimeSpan.Zero ? ValidateOptionsResult.Fail("ResponseTimeout must be positive.")
        : options.MaxForwardCount < 0 ? ValidateOptionsResult.Fail("MaxForwardCount must not be negative.")
        : ValidateOptionsResult.Success;
}
