using System.Diagnostics.Metrics;

namespace Analytics.Silo.Hosting;

/// <summary>
/// Messages this silo sent and received since it started, counted from Orleans' own meter
/// ("Microsoft.Orleans": one measurement per message on its message-size histograms), for the
/// network figures of /api/cluster/self.
/// </summary>
public sealed class MessagingCounters : IDisposable
{
    private const string OrleansMeter = "Microsoft.Orleans";
    private const string SentInstrument = "orleans-messaging-sent-messages-size";
    private const string ReceivedInstrument = "orleans-messaging-received-messages-size";

    private readonly MeterListener _listener = new();
    private long _sent;
    private long _received;

    public MessagingCounters()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == OrleansMeter && instrument.Name is SentInstrument or ReceivedInstrument)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((instrument, _, _, _) =>
        {
            if (instrument.Name == SentInstrument)
            {
                Interlocked.Increment(ref _sent);
            }
            else
            {
                Interlocked.Increment(ref _received);
            }
        });
        _listener.Start();
    }

    public long Sent => Interlocked.Read(ref _sent);

    public long Received => Interlocked.Read(ref _received);

    public void Dispose() => _listener.Dispose();
}
