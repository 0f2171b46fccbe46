namespace Analytics.Client.Cli;

/// <summary>
/// One status line on a terminal, redrawn in place (carriage return) a few times a second until
/// disposed, when it is erased so the summary that follows starts on a clean line.
/// </summary>
internal sealed class ProgressLine : IAsyncDisposable
{
    private readonly TextWriter _writer;
    private readonly Func<string> _render;
    private readonly Func<int> _width;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _lastLength;

    private ProgressLine(TextWriter writer, Func<string> render, Func<int> width, TimeSpan interval)
    {
        _writer = writer;
        _render = render;
        _width = width;
        _loop = RunAsync(interval);
    }

    /// <summary>Starts redrawing, or returns null when <paramref name="enabled"/> is false.</summary>
    public static ProgressLine? Start(bool enabled, CliEnvironment env, Func<string> render, TimeSpan? interval = null) =>
        enabled ? new ProgressLine(env.Error, render, env.TerminalWidth, interval ?? TimeSpan.FromMilliseconds(250)) : null;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _writer.Write('\r' + new string(' ', _lastLength) + '\r');
        _writer.Flush();
        _stop.Dispose();
    }

    private async Task RunAsync(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval);
        Draw();
        while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
        {
            Draw();
        }
    }

    private void Draw()
    {
        string text = _render();
        int width = _width();
        if (width > 1 && text.Length >= width)
        {
            text = text[..(width - 1)]; // a wrapped line could not be redrawn in place
        }

        int pad = Math.Max(0, _lastLength - text.Length);
        _writer.Write('\r' + text + new string(' ', pad));
        _writer.Flush();
        _lastLength = text.Length;
    }

    /// <summary><c>[#######---------]</c> for a fraction 0–1.</summary>
    public static string Bar(double fraction, int width = 20)
    {
        int filled = (int)Math.Round(Math.Clamp(fraction, 0, 1) * width);
        return "[" + new string('#', filled) + new string('-', width - filled) + "]";
    }
}
