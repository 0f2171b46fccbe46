using Microsoft.Extensions.Logging;

namespace Analytics.Client.Cluster;

/// <summary>
/// Keeps the last connection and TLS failures that the Orleans client logs. Orleans retries a
/// gateway connection until the client's start is given up, and then reports only that it could
/// not connect; these say why (refused, closed during the handshake, a TLS alert).
/// </summary>
internal sealed class ConnectionDiagnostics : ILoggerProvider
{
    public const string ConnectionCategory = "Orleans.Runtime.Messaging.ConnectionManager";

    public const string TlsCategory = "Orleans.Connections.Security.TlsClientConnectionMiddleware";

    private volatile Exception? _lastConnectionFailure;
    private volatile Exception? _lastTlsFailure;

    /// <summary>The innermost exception of the last failed connection attempt.</summary>
    public Exception? LastConnectionFailure => _lastConnectionFailure;

    /// <summary>The last TLS handshake that failed on this side (a TLS alert from the gateway, say).</summary>
    public Exception? LastTlsFailure => _lastTlsFailure;

    public ILogger CreateLogger(string categoryName) => categoryName switch
    {
        ConnectionCategory => new Recorder(e => _lastConnectionFailure = Innermost(e)),
        TlsCategory => new Recorder(e => _lastTlsFailure = Innermost(e)),
        _ => Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance,
    };

    public void Dispose()
    {
    }

    private static Exception Innermost(Exception exception)
    {
        var e = exception;
        while (e.InnerException is { } inner)
        {
            e = inner;
        }

        return e;
    }

    private sealed class Recorder(Action<Exception> record) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (exception is not null && IsEnabled(logLevel))
            {
                record(exception);
            }
        }
    }
}
