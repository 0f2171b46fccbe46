using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Activation;

internal static partial class ActivationLog
{
    [LoggerMessage(Level = LogLevel.Trace, Message = "Activated grain {GrainId}")]
    public static partial void Activated(this ILogger logger, GrainId grainId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Activation of grain {GrainId} failed")]
    public static partial void ActivationFailed(this ILogger logger, Exception exception, GrainId grainId);

    [LoggerMessage(Level = LogLevel.Trace, Message = "Deactivated grain {GrainId} ({Reason})")]
    public static partial void Deactivated(this ILogger logger, GrainId grainId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "OnDeactivateAsync of grain {GrainId} failed")]
    public static partial void DeactivationFailed(this ILogger logger, Exception exception, GrainId grainId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled exception in a turn of grain {GrainId}")]
    public static partial void UnhandledTurnException(this ILogger logger, Exception exception, GrainId grainId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Collected {Count} idle activations")]
    public static partial void CollectedIdle(this ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Membership changed: moving {Count} activations to their new silos")]
    public static partial void MovingActivations(this ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deactivating {Count} activations for shutdown")]
    public static partial void DeactivatingAll(this ILogger logger, int count);
}
