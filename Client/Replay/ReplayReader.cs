using System.Text.Json;

namespace Analytics.Client.Replay;

/// <summary>The form of a replay file.</summary>
public enum ReplayFormat
{
    /// <summary>Told by the first non-blank byte: <c>[</c> is a JSON array, anything else NDJSON.</summary>
    Auto,
    Ndjson,
    JsonArray,
}

/// <summary>One event of a replay file: its 1-based line in the file and its JSON on one line.</summary>
public readonly record struct ReplayItem(long Line, ReadOnlyMemory<byte> Json);

/// <summary>An element of the file that cannot be sent at all (not JSON), found while reading.</summary>
public readonly record struct ReplayRejection(long Line, string Error);

/// <summary>The file is not an NDJSON file or a JSON array, and reading cannot go on.</summary>
public sealed class ReplayFormatException(long line, string message) : Exception(message)
{
    /// <summary>1-based line where the problem is.</summary>
    public long Line { get; } = line;
}

/// <summary>
/// Reads events from an NDJSON file or a JSON array file as a stream, a batch at a time, with
/// each event's line number, so that a huge file is never held in memory.
/// </summary>
/// <remarks>
/// <para>NDJSON: every non-blank line is one event, sent as it is (a line that is not JSON is the
/// server's to reject, and it rejects only that line). Blank lines take no index, as on the
/// server, so the server's error index <c>i</c> of a batch is the batch's <c>i</c>-th item.</para>
/// <para>JSON array: the array's elements are found by a scanner that tracks strings and
/// nesting, so a pretty-printed file works; each element is checked to be JSON here (a broken one
/// would make the server refuse a whole array), and sent as one NDJSON line.</para>
/// </remarks>
public sealed class ReplayReader : IDisposable
{
    private const int ChunkSize = 64 * 1024;

    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private byte[] _buffer = new byte[ChunkSize];
    private int _start;
    private int _end;
    private bool _eof;
    private long _line = 1; // the line of _buffer[_start]
    private bool _began;
    private ArrayState _array;
    private ReplayItem? _pending;
    private byte? _lastByte; // the last byte read from the stream

    private enum ArrayState { BeforeOpen, BeforeElement, AfterComma, AfterElement, Closed }

    public ReplayReader(Stream stream, ReplayFormat format = ReplayFormat.Auto, bool ownsStream = true)
    {
        _stream = stream ?? throw new ArgumentNullException(nameof(stream));
        _ownsStream = ownsStream;
        Format = format;
        try
        {
            Length = stream.CanSeek ? stream.Length - stream.Position : null;
        }
        catch (NotSupportedException)
        {
            Length = null;
        }
    }

    /// <summary>The form being read; <see cref="ReplayFormat.Auto"/> until the first read tells.</summary>
    public ReplayFormat Format { get; private set; }

    /// <summary>Bytes of the file consumed so far.</summary>
    public long BytesRead { get; private set; }

    /// <summary>Lines of the file consumed so far (a last line without a newline counts once read).</summary>
    public long LinesRead => _eof && _start == _end && _lastByte is not null and not (byte)'\n' ? _line : _line - 1;

    /// <summary>The file's size if known (null for a pipe).</summary>
    public long? Length { get; }

    /// <summary>
    /// Reads up to <paramref name="maxItems"/> events, stopping early before the batch's JSON
    /// would exceed <paramref name="maxBytes"/> (a single larger event still makes a batch of one).
    /// Elements that are not JSON go to <paramref name="rejections"/>. An empty result is the end.
    /// </summary>
    /// <exception cref="ReplayFormatException">The file's structure is broken (JSON array files).</exception>
    public async Task<List<ReplayItem>> ReadBatchAsync(int maxItems, long maxBytes, List<ReplayRejection> rejections, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxItems, 1);
        var items = new List<ReplayItem>(Math.Min(maxItems, 4096));
        long bytes = 0;
        if (!_began)
        {
            await BeginAsync(cancellationToken).ConfigureAwait(false);
        }

        while (items.Count < maxItems)
        {
            ReplayItem? next = _pending;
            _pending = null;
            next ??= Format == ReplayFormat.JsonArray
                ? await NextElementAsync(rejections, cancellationToken).ConfigureAwait(false)
                : await NextLineAsync(cancellationToken).ConfigureAwait(false);
            if (next is not { } item)
            {
                break;
            }

            long size = item.Json.Length + 1; // and its newline
            if (items.Count > 0 && bytes + size > maxBytes)
            {
                _pending = item; // starts the next batch
                break;
            }

            items.Add(item);
            bytes += size;
        }

        return items;
    }

    public void Dispose()
    {
        if (_ownsStream)
        {
            _stream.Dispose();
        }
    }

    private async Task BeginAsync(CancellationToken cancellationToken)
    {
        _began = true;
        while (!_eof && _end - _start < 3)
        {
            await FillAsync(cancellationToken).ConfigureAwait(false);
        }

        if (_buffer.AsSpan(_start, _end - _start).StartsWith("\uFEFF"u8))
        {
            Consume(3);
        }

        if (Format != ReplayFormat.Auto)
        {
            return;
        }

        // Find the first non-blank byte to tell the form, without consuming anything else.
        while (true)
        {
            int first = _buffer.AsSpan(_start, _end - _start).IndexOfAnyExcept(" \t\r\n"u8);
            if (first >= 0)
            {
                Format = _buffer[_start + first] == '[' ? ReplayFormat.JsonArray : ReplayFormat.Ndjson;
                return;
            }

            if (_eof)
            {
                Format = ReplayFormat.Ndjson; // empty: nothing to read either way
                return;
            }

            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // ---- NDJSON

    private async Task<ReplayItem?> NextLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            int newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline < 0 && !_eof)
            {
                await FillAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (newline < 0 && _start == _end)
            {
                return null; // end of file
            }

            int length = newline < 0 ? _end - _start : newline;
            ReadOnlySpan<byte> line = _buffer.AsSpan(_start, length);
            long lineNumber = _line;
            byte[]? copy = IsBlank(line) ? null : line.ToArray();
            Consume(newline < 0 ? length : length + 1);
            if (newline >= 0)
            {
                _line++;
            }

            if (copy is not null)
            {
                return new ReplayItem(lineNumber, copy);
            }
        }
    }

    // ---- JSON array

    private async Task<ReplayItem?> NextElementAsync(List<ReplayRejection> rejections, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_array == ArrayState.Closed)
            {
                await ExpectOnlyWhitespaceAsync(cancellationToken).ConfigureAwait(false);
                return null;
            }

            byte? b = await PeekNonBlankAsync(cancellationToken).ConfigureAwait(false);
            switch (_array)
            {
                case ArrayState.BeforeOpen:
                    if (b != '[')
                    {
                        throw new ReplayFormatException(_line, b is null
                            ? "the file is empty; it must hold a JSON array of events or NDJSON"
                            : $"line {_line}: expected the [ of a JSON array");
                    }

                    Consume(1);
                    _array = ArrayState.BeforeElement;
                    continue;

                case ArrayState.AfterElement:
                    if (b == ',')
                    {
                        Consume(1);
                        _array = ArrayState.AfterComma;
                        continue;
                    }

                    if (b == ']')
                    {
                        Consume(1);
                        _array = ArrayState.Closed;
                        continue;
                    }

                    throw new ReplayFormatException(_line, b is null
                        ? $"line {_line}: the file ends before the closing ] of the array"
                        : $"line {_line}: expected , or ] after an array element, found {Describe(b.Value)}");

                case ArrayState.BeforeElement when b == ']':
                    Consume(1);
                    _array = ArrayState.Closed;
                    continue;

                default: // BeforeElement, AfterComma: an element starts here
                    if (b is null)
                    {
                        throw new ReplayFormatException(_line, $"line {_line}: the file ends before the closing ] of the array");
                    }

                    if (b is (byte)']' or (byte)',')
                    {
                        throw new ReplayFormatException(_line, $"line {_line}: expected an array element, found {Describe(b.Value)}");
                    }

                    long line = _line;
                    byte[] element = await ScanElementAsync(cancellationToken).ConfigureAwait(false);
                    _array = ArrayState.AfterElement;
                    if (CheckJson(element) is { } error)
                    {
                        rejections.Add(new ReplayRejection(line, error));
                        continue;
                    }

                    // Valid JSON has line breaks only as whitespace between tokens (never inside a
                    // string), so blanking them makes the element one NDJSON line.
                    for (int i = 0; i < element.Length; i++)
                    {
                        if (element[i] is (byte)'\n' or (byte)'\r')
                        {
                            element[i] = (byte)' ';
                        }
                    }

                    return new ReplayItem(line, element);
            }
        }
    }

    /// <summary>
    /// Consumes one element: up to, not including, the <c>,</c> or <c>]</c> that ends it at depth 0
    /// outside strings. Trailing whitespace is trimmed.
    /// </summary>
    private async Task<byte[]> ScanElementAsync(CancellationToken cancellationToken)
    {
        using var element = new MemoryStream();
        int depth = 0;
        bool inString = false, escaped = false;
        while (true)
        {
            if (_start == _end)
            {
                if (_eof)
                {
                    throw new ReplayFormatException(_line, depth == 0 && !inString
                        ? $"line {_line}: the file ends before the closing ] of the array"
                        : $"line {_line}: the file ends inside an array element, before the closing ] of the array");
                }

                await FillAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            int i = _start;
            bool done = false;
            for (; i < _end; i++)
            {
                byte c = _buffer[i];
                if (c == '\n')
                {
                    _line++;
                }

                if (inString)
                {
                    if (escaped)
                    {
                        escaped = false;
                    }
                    else if (c == '\\')
                    {
                        escaped = true;
                    }
                    else if (c == '"')
                    {
                        inString = false;
                    }

                    continue;
                }

                if (c == '"')
                {
                    inString = true;
                }
                else if (c is (byte)'{' or (byte)'[')
                {
                    depth++;
                }
                else if (c is (byte)'}' or (byte)']')
                {
                    if (depth == 0)
                    {
                        done = true; // the array's own ]
                        break;
                    }

                    depth--;
                }
                else if (c == ',' && depth == 0)
                {
                    done = true;
                    break;
                }
            }

            element.Write(_buffer, _start, i - _start);
            BytesRead += i - _start;
            _start = i;
            if (done)
            {
                byte[] bytes = element.ToArray();
                int end = bytes.AsSpan().LastIndexOfAnyExcept(" \t\r\n"u8) + 1;
                return end == bytes.Length ? bytes : bytes[..end];
            }
        }
    }

    private static string? CheckJson(byte[] element)
    {
        var reader = new Utf8JsonReader(element, new JsonReaderOptions { MaxDepth = 64 });
        try
        {
            if (!reader.Read())
            {
                return "the array element is empty";
            }

            reader.Skip();
            if (reader.Read())
            {
                return "the array element is not one JSON value";
            }

            return null;
        }
        catch (JsonException ex)
        {
            string message = ex.Message;
            int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
            return $"not valid JSON: {(cut >= 0 ? message[..cut] : message)}";
        }
    }

    private async Task<byte?> PeekNonBlankAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            while (_start < _end)
            {
                byte c = _buffer[_start];
                if (c is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
                {
                    return c;
                }

                if (c == '\n')
                {
                    _line++;
                }

                _start++;
                BytesRead++;
            }

            if (_eof)
            {
                return null;
            }

            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ExpectOnlyWhitespaceAsync(CancellationToken cancellationToken)
    {
        if (await PeekNonBlankAsync(cancellationToken).ConfigureAwait(false) is { } extra)
        {
            throw new ReplayFormatException(_line, $"line {_line}: found {Describe(extra)} after the closing ] of the array");
        }
    }

    // ---- Buffer

    private void Consume(int count)
    {
        _start += count;
        BytesRead += count;
    }

    /// <summary>Reads more of the stream, keeping the unread bytes (the buffer grows when they fill it: a long line).</summary>
    private async Task FillAsync(CancellationToken cancellationToken)
    {
        int unread = _end - _start;
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, unread);
            _start = 0;
            _end = unread;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }

        int read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            _eof = true;
        }
        else
        {
            _lastByte = _buffer[_end + read - 1];
        }

        _end += read;
    }

    private static bool IsBlank(ReadOnlySpan<byte> line) => line.IndexOfAnyExcept(" \t\r\n"u8) < 0;

    private static string Describe(byte b) => b is >= 0x20 and < 0x7F
        ? $"'{(char)b}'"
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"byte 0x{b:X2}");
}
