using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Activation;

/// <summary>Activation lifetime settings. Defaults follow Orleans.</summary>
public sealed class GrainCollectionOptions
{
    /// <summary>An activation idle for this long is collected.</summary>
    public TimeSpan CollectionAge { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How often the collector looks for idle activations.</summary>
    public TimeSpan CollectionQuantum { get; set; } = TimeSpan.FromMinutes(1);

    public TimeSpan ActivationTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan DeactivationTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

internal sealed class GrainCollectionOptionsValidator : IValidateOptions<GrainCollectionOptions>
{
    public ValidateOptionsResult Validate(string? name, GrainCollectionOptions options)
    {
        var errors = new List<string>();
        if (options.CollectionAge <= TimeSpan.Zero)
        {
            errors.Add($"{nameof(GrainCollectionOptions.CollectionAge)} must be positive.");
        }

        if (options.CollectionQuantum <= TimeSpan.Zero || options.CollectionQuantum > options.CollectionAge)
        {
            errors.Add($"{nameof(GrainCollectionOptions.CollectionQuantum)} must be positive and no longer than CollectionAge.");
        }

        if (options.ActivationTimeout <= TimeSpan.Zero || options.DeactivationTimeout <= TimeSpan.Zero)
        {
            errors.Add("Activation and deactivation timeouts must be positive.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
