using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Analytics.Kinesis.Tests;

/// <summary>What the silos of a test logged (our providers at Information, everything at Warning), with the time since start.</summary>
internal sealed class TestLog : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public IReadOnlyCollection<string> Lines => _lines;

    /// <summary>
    /// Runs a test's steps; when one fails (or KINESIS_TESTS_LOG=1 is set), what the silos logged
    /// goes to the test's output.
    /// </summary>
    public async Task DumpOnFailureAsync(Xunit.Abstractions.ITestOutputHelper output, Func<Task> steps)
    {
        var always = Environment.GetEnvironmentVariable("KINESIS_TESTS_LOG") == "1";
        try
        {
            await steps();
        }
        catch
        {
            always = true;
            throw;
        }
        finally
        {
            if (always)
            {
                foreach (var line in _lines)
                {
                    output.WriteLine(line);
                }
            }
        }
    }

    /// <summary>A line of the test's own, to see its steps among the silos' lines.</summary>
    public void Mark(string step) => _lines.Enqueue($"{_clock.Elapsed.TotalSeconds,7:0.00} test: {step}");

    public ILoggerProvider For(string silo) => new SiloLog(this, silo);

    public ILogger CreateLogger(string categoryName) => new Logger(this, "", categoryName);

    public void Dispose()
    {
    }

    private sealed class SiloLog(TestLog log, string silo) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(log, silo, categoryName);

        public void Dispose()
        {
        }
    }

    private sealed class Logger(TestLog log, string silo, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) =>
            logLevel >= LogLevel.Warning || (logLevel >= LogLevel.Information && category.StartsWith("Analytics.", StringComparison.Ordinal));

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel) && log._lines.Count < 5000)
            {
                var error = exception is null ? "" : $" [{exception.GetType().Name}: {exception.Message}]";
                log._lines.Enqueue($"{log._clock.Elapsed.TotalSeconds,7:0.00} {silo} {logLevel} {category.Split('.')[^1]}: {formatter(state, exception)}{error}");
            }
        }
    }
}
