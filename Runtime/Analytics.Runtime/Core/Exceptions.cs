namespace Analytics.Runtime;

/// <summary>A grain call did not complete within the response timeout. Its outcome is unknown.</summary>
public sealed class GrainCallTimeoutException(string message) : TimeoutException(message);

/// <summary>The silo that hosts (or was asked to host) the grain is gone, or is shutting down.</summary>
public sealed class SiloUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The grain's activation failed (its constructor, state load or OnActivateAsync threw).</summary>
public sealed class GrainActivationException(string message, Exception inner) : Exception(message, inner);

/// <summary>No grain class is registered for the grain type a reference names.</summary>
public sealed class GrainTypeNotFoundException(string message) : Exception(message);
