using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Connections.Security;
using Orleans.Hosting;
using Orleans.Messaging;
using Orleans.Runtime;

namespace Analytics.Client.Cluster;

/// <summary>
/// The Orleans client host behind <see cref="AnalyticsClusterClient"/>: built and started at the
/// first connect, and built anew after a failed one (a host whose start failed cannot start again).
/// </summary>
internal sealed class ClusterClientHost : IAsyncDisposable
{
    private readonly AnalyticsClusterClientOptions _options;
    private readonly TlsCertificatePinning? _pinning;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IHost? _host;
    private bool _disposed;

    public ClusterClientHost(AnalyticsClusterClientOptions options)
    {
        _options = options;
        Gateways = options.Gateways.Count > 0
            ? options.Gateways.Select(GatewayEndpoint.Parse).ToList()
            : throw new ArgumentException("At least one gateway (host:port) is needed.");
        _pinning = options.TlsThumbprints.Count > 0 ? new TlsCertificatePinning(options.TlsThumbprints) : null;
    }

    public IReadOnlyList<GatewayEndpoint> Gateways { get; }

    /// <summary>The connected client; null before the first successful connect.</summary>
    public IClusterClient? Client { get; private set; }

    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        if (Client is not null)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (Client is not null)
            {
                return;
            }

            _pinning?.Reset();
            var diagnostics = new ConnectionDiagnostics();
            var host = Build(diagnostics);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(_options.ConnectTimeout);
            try
            {
                await host.StartAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
            {
                await StopAsync(host).ConfigureAwait(false);
                throw Explain(exception, diagnostics);
            }
            catch
            {
                await StopAsync(host).ConfigureAwait(false);
                throw;
            }

            _host = host;
            Client = host.Services.GetRequiredService<IClusterClient>();
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            _disposed = true;
            Client = null;
            if (_host is { } host)
            {
                _host = null;
                await StopAsync(host).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private IHost Build(ConnectionDiagnostics diagnostics)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        _options.ConfigureLogging?.Invoke(builder.Logging);
        builder.Logging.AddProvider(diagnostics);
        builder.Logging.AddFilter<ConnectionDiagnostics>(null, LogLevel.Warning);
        var attemptTimeout = TimeSpan.FromTicks(Math.Min(_options.ConnectTimeout.Ticks, TimeSpan.FromSeconds(5).Ticks));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (_options.ClusterId, _options.ServiceId));
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = _options.ResponseTimeout);
            client.Configure<ConnectionOptions>(o => o.OpenConnectionTimeout = attemptTimeout);
            client.Services.AddSingleton<IGatewayListProvider>(sp => new StaticGatewayList(Gateways, sp.GetRequiredService<ILogger<StaticGatewayList>>()));
            if (_pinning is { } pinning)
            {
                client.UseTls(tls =>
                {
                    tls.LocalCertificate = _options.ClientCertificate;
                    tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
                    tls.RemoteCertificateValidation = (certificate, chain, errors) => pinning.Validate(certificate, chain, errors);
                    tls.HandshakeTimeout = attemptTimeout;
                });
            }
        });
        return builder.Build();
    }

    /// <summary>Turns a failed start into what the caller can act on.</summary>
    private Exception Explain(Exception failure, ConnectionDiagnostics diagnostics)
    {
        if (_pinning?.LastRejection is { } rejection)
        {
            return new ClusterAuthenticationException(rejection, failure);
        }

        if (_pinning is not null && diagnostics.LastTlsFailure is System.Security.Authentication.AuthenticationException tls)
        {
            return new ClusterAuthenticationException(
                $"The TLS handshake with the gateway failed: {tls.Message.TrimEnd('.')}. A gateway that requires a client certificate refuses a client without the cluster's.", failure);
        }

        var last = diagnostics.LastConnectionFailure ?? diagnostics.LastTlsFailure;
        var reason = failure is not OperationCanceledException
            ? string.Join(": ", Chain(failure).Select(e => e.Message.TrimEnd('.')).Distinct())
            : last?.Message.TrimEnd('.') ?? "no connection could be opened";
        var within = failure is OperationCanceledException ? $" within {_options.ConnectTimeout.TotalSeconds:0.#} s" : "";
        return new SiloUnavailableException(
            $"No gateway of {string.Join(", ", Gateways)} answered{within} (last error: {reason}); the call was not delivered.", failure);
    }

    private static IEnumerable<Exception> Chain(Exception exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is not AggregateException)
            {
                yield return e;
            }
        }
    }

    private static async Task StopAsync(IHost host)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await host.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is OperationCanceledException or ObjectDisposedException or OrleansException)
        {
            // A client that never connected may fail to stop cleanly; disposing still frees its sockets.
        }

        if (host is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync().ConfigureAwait(false);
        }
        else
        {
            host.Dispose();
        }
    }
}
