defmodule NervesDockerTs.Msgpack do
  @moduledoc """
  A small, dependency-free MessagePack codec used on the Erlang port between
  the Mix plugin and the TypeScript sidecar (which uses `msgpackr`).

  ## Term mapping

  | Elixir                                   | MessagePack                                   |
  | ---------------------------------------- | --------------------------------------------- |
  | `nil`, `true`, `false`                   | nil, true, false                              |
  | integer in `-2^63..2^64-1`               | smallest of fixint / uint8..64 / int8..64     |
  | float                                    | float64 (`0xcb`) always                       |
  | binary that is valid UTF-8               | str (fixstr / str8 / str16 / str32)           |
  | binary that is not valid UTF-8           | bin (bin8 / bin16 / bin32)                    |
  | `{:bin, binary}`                         | bin, whatever the bytes are                   |
  | any other atom                           | str holding the atom's name                   |
  | proper list                              | array (fixarray / array16 / array32)          |
  | map (not a struct)                       | map (fixmap / map16 / map32)                  |

  Everything else (tuples other than `{:bin, binary}`, structs, pids,
  references, functions, bitstrings that are not whole bytes, improper
  lists, integers out of range) is rejected by `encode/1` with
  `{:error, {:unsupported, offending_term}}`.

  Decoding maps msgpack back to the same shapes: str becomes a binary (never
  an atom, so untrusted input cannot fill the atom table), bin becomes a
  binary too, or `{:bin, binary}` with `bin_as: :tuple`. float32 and float64
  both decode to Elixir floats. map16/map32 are accepted for any size
  (`msgpackr` writes every plain object as map16). If a map repeats a key, the
  last value wins. str payloads are not checked for valid UTF-8.

  Decoding never raises on bad input; it returns `{:error, reason}` where
  `reason` is one of:

    * `:truncated`: the input ends in the middle of a value
    * `{:trailing_bytes, n}`: a complete value is followed by `n` more bytes
    * `{:ext_not_supported, type}`: an ext or fixext value (`0xc7..0xc9`,
      `0xd4..0xd8`); `type` is the signed ext type byte
    * `{:invalid_byte, 0xc1}`: the one byte msgpack never uses
    * `{:non_finite_float, :nan | :infinity | :neg_infinity}`: Erlang floats
      cannot hold NaN or the infinities
    * `{:max_depth_exceeded, max}`: arrays/maps nested deeper than the
      `:max_depth` option

  Strings and bins are decoded as sub-binaries of the input, without copying.
  A small decoded string therefore keeps the whole input binary alive; use
  `:binary.copy/1` if you keep a small piece of a large message for long.
  """

  @max_uint8 0xFF
  @max_uint16 0xFFFF
  @max_uint32 0xFFFF_FFFF
  @max_uint64 0xFFFF_FFFF_FFFF_FFFF
  @min_int64 -0x8000_0000_0000_0000

  @default_max_depth 1024

  @typedoc "A term that `encode/1` accepts."
  @type encodable ::
          nil
          | boolean
          | atom
          | integer
          | float
          | binary
          | {:bin, binary}
          | [encodable]
          | %{optional(encodable) => encodable}

  @typedoc "A term that `decode/2` can return."
  @type decoded ::
          nil
          | boolean
          | integer
          | float
          | binary
          | {:bin, binary}
          | [decoded]
          | %{optional(decoded) => decoded}

  @typedoc "Why `decode/2` rejected its input."
  @type decode_error ::
          :truncated
          | {:trailing_bytes, pos_integer}
          | {:ext_not_supported, integer}
          | {:invalid_byte, 0xC1}
          | {:non_finite_float, :nan | :infinity | :neg_infinity}
          | {:max_depth_exceeded, pos_integer}

  @typedoc """
  Options for `decode/2`:

    * `:bin_as` - `:binary` (default) returns bin values as plain binaries,
      `:tuple` returns them as `{:bin, binary}` so `encode/1` reproduces them
      exactly.
    * `:max_depth` - how deeply arrays and maps may nest (default #{@default_max_depth}).
      Guards the stack against hostile input such as millions of nested
      one-element arrays.
  """
  @type decode_opt :: {:bin_as, :binary | :tuple} | {:max_depth, pos_integer}

  defmodule Error do
    @moduledoc "Raised by `NervesDockerTs.Msgpack.encode!/1` and `decode!/2`."
    defexception [:reason]

    @impl true
    def message(%__MODULE__{reason: reason}) do
      "msgpack error: " <> inspect(reason, limit: 20, printable_limit: 200)
    end
  end

  ## Encoding

  @doc """
  Encodes `term` into a msgpack binary.

  Returns `{:error, {:unsupported, subterm}}` naming the first part of
  `term` that has no msgpack form.

      iex> NervesDockerTs.Msgpack.encode(%{"a" => [1, -1, 2.5, nil]})
      {:ok, <<0x81, 0xA1, ?a, 0x94, 0x01, 0xFF, 0xCB, 0x40, 0x04, 0, 0, 0, 0, 0, 0, 0xC0>>}

      iex> NervesDockerTs.Msgpack.encode({:ok, 1})
      {:error, {:unsupported, {:ok, 1}}}
  """
  @spec encode(encodable) :: {:ok, binary} | {:error, {:unsupported, term}}
  def encode(term) do
    case encode_to_iodata(term) do
      {:ok, iodata} -> {:ok, IO.iodata_to_binary(iodata)}
      error -> error
    end
  end

  @doc """
  Like `encode/1` but returns iodata, which can be handed to `Port.command/2`
  without first being flattened (large binaries inside `term` are not copied).
  """
  @spec encode_to_iodata(encodable) :: {:ok, iodata} | {:error, {:unsupported, term}}
  def encode_to_iodata(term) do
    {:ok, enc(term)}
  catch
    :throw, {__MODULE__, :unsupported, bad} -> {:error, {:unsupported, bad}}
  end

  @doc """
  Like `encode/1` but returns the binary, raising `NervesDockerTs.Msgpack.Error`
  for unsupported terms.
  """
  @spec encode!(encodable) :: binary
  def encode!(term) do
    case encode(term) do
      {:ok, bin} -> bin
      {:error, reason} -> raise Error, reason: reason
    end
  end

  defp enc(nil), do: <<0xC0>>
  defp enc(false), do: <<0xC2>>
  defp enc(true), do: <<0xC3>>
  defp enc(n) when is_integer(n), do: enc_int(n)
  defp enc(f) when is_float(f), do: <<0xCB, f::float-64>>

  defp enc(b) when is_binary(b) do
    if String.valid?(b), do: enc_str(b), else: enc_bin(b)
  end

  defp enc(a) when is_atom(a), do: enc_str(Atom.to_string(a))
  defp enc(l) when is_list(l), do: enc_list(l, l, 0, [])
  defp enc({:bin, b} = t) when is_binary(b), do: enc_bin(b, t)
  defp enc(%_{} = struct), do: unsupported(struct)

  defp enc(m) when is_map(m) do
    size = map_size(m)

    body = :maps.fold(fn k, v, acc -> [acc, enc(k) | enc(v)] end, [], m)

    cond do
      size < 16 -> [0x80 + size | body]
      size <= @max_uint16 -> [<<0xDE, size::16>> | body]
      size <= @max_uint32 -> [<<0xDF, size::32>> | body]
      true -> unsupported(m)
    end
  end

  defp enc(other), do: unsupported(other)

  defp enc_int(n) when n >= 0 do
    cond do
      n < 0x80 -> <<n>>
      n <= @max_uint8 -> <<0xCC, n>>
      n <= @max_uint16 -> <<0xCD, n::16>>
      n <= @max_uint32 -> <<0xCE, n::32>>
      n <= @max_uint64 -> <<0xCF, n::64>>
      true -> unsupported(n)
    end
  end

  defp enc_int(n) do
    cond do
      n >= -32 -> <<n::signed-8>>
      n >= -0x80 -> <<0xD0, n::signed-8>>
      n >= -0x8000 -> <<0xD1, n::signed-16>>
      n >= -0x8000_0000 -> <<0xD2, n::signed-32>>
      n >= @min_int64 -> <<0xD3, n::signed-64>>
      true -> unsupported(n)
    end
  end

  defp enc_str(s) do
    size = byte_size(s)

    cond do
      size < 32 -> [0xA0 + size | s]
      size <= @max_uint8 -> [0xD9, size | s]
      size <= @max_uint16 -> [<<0xDA, size::16>> | s]
      size <= @max_uint32 -> [<<0xDB, size::32>> | s]
      true -> unsupported(s)
    end
  end

  defp enc_bin(b, original \\ nil) do
    size = byte_size(b)

    cond do
      size <= @max_uint8 -> [0xC4, size | b]
      size <= @max_uint16 -> [<<0xC5, size::16>> | b]
      size <= @max_uint32 -> [<<0xC6, size::32>> | b]
      true -> unsupported(original || b)
    end
  end

  # Walks the list once, counting and encoding; the iodata is built
  # left-nested so no reverse is needed. Improper lists are rejected.
  defp enc_list([h | t], whole, count, acc), do: enc_list(t, whole, count + 1, [acc | enc(h)])

  defp enc_list([], whole, count, acc) do
    cond do
      count < 16 -> [0x90 + count | acc]
      count <= @max_uint16 -> [<<0xDC, count::16>> | acc]
      count <= @max_uint32 -> [<<0xDD, count::32>> | acc]
      true -> unsupported(whole)
    end
  end

  defp enc_list(_improper_tail, whole, _count, _acc), do: unsupported(whole)

  @compile {:inline, unsupported: 1}
  defp unsupported(term), do: throw({__MODULE__, :unsupported, term})

  ## Decoding

  @doc """
  Decodes one msgpack value that must span all of `binary`.

  See `t:decode_opt/0` for the options and the module documentation for the
  possible errors. Never raises on malformed input and never creates atoms.

      iex> NervesDockerTs.Msgpack.decode(<<0x82, 0xA1, ?a, 0x01, 0xA1, ?b, 0xC4, 0x01, 0xFF>>)
      {:ok, %{"a" => 1, "b" => <<0xFF>>}}

      iex> NervesDockerTs.Msgpack.decode(<<0xC4, 0x01, 0xFF>>, bin_as: :tuple)
      {:ok, {:bin, <<0xFF>>}}

      iex> NervesDockerTs.Msgpack.decode(<<0x01, 0x02>>)
      {:error, {:trailing_bytes, 1}}
  """
  @spec decode(binary, [decode_opt]) :: {:ok, decoded} | {:error, decode_error}
  def decode(binary, opts \\ []) when is_binary(binary) and is_list(opts) do
    {tuple?, max_depth} = decode_opts(opts)

    try do
      dec(binary, tuple?, max_depth)
    catch
      :throw, {__MODULE__, :max_depth} -> {:error, {:max_depth_exceeded, max_depth}}
      :throw, {__MODULE__, reason} -> {:error, reason}
    else
      {term, <<>>} -> {:ok, term}
      {_term, rest} -> {:error, {:trailing_bytes, byte_size(rest)}}
    end
  end

  @doc """
  Like `decode/2` but returns the term, raising `NervesDockerTs.Msgpack.Error`
  on malformed input.
  """
  @spec decode!(binary, [decode_opt]) :: decoded
  def decode!(binary, opts \\ []) do
    case decode(binary, opts) do
      {:ok, term} -> term
      {:error, reason} -> raise Error, reason: reason
    end
  end

  defp decode_opts(opts) do
    tuple? =
      case Keyword.get(opts, :bin_as, :binary) do
        :binary -> false
        :tuple -> true
        other -> raise ArgumentError, "invalid :bin_as option: #{inspect(other)}"
      end

    max_depth =
      case Keyword.get(opts, :max_depth, @default_max_depth) do
        n when is_integer(n) and n > 0 -> n
        other -> raise ArgumentError, "invalid :max_depth option: #{inspect(other)}"
      end

    {tuple?, max_depth}
  end

  # dec/3 returns {term, rest}. `t` is true when bins decode to {:bin, b};
  # `d` is the remaining container depth. Every first byte has a clause that
  # matches when enough bytes are present, so the final catch-all only sees
  # truncated input.

  # positive fixint
  defp dec(<<b, rest::binary>>, _t, _d) when b < 0x80, do: {b, rest}
  # fixmap
  defp dec(<<b, rest::binary>>, t, d) when b < 0x90, do: dec_map(rest, b - 0x80, t, down(d), [])
  # fixarray
  defp dec(<<b, rest::binary>>, t, d) when b < 0xA0,
    do: dec_array(rest, b - 0x90, t, down(d), [])

  # fixstr
  defp dec(<<b, rest::binary>>, _t, _d) when b < 0xC0 do
    n = b - 0xA0

    case rest do
      <<s::binary-size(n), rest::binary>> -> {s, rest}
      _ -> truncated()
    end
  end

  # negative fixint
  defp dec(<<b, rest::binary>>, _t, _d) when b >= 0xE0, do: {b - 0x100, rest}

  defp dec(<<0xC0, rest::binary>>, _t, _d), do: {nil, rest}
  defp dec(<<0xC1, _::binary>>, _t, _d), do: throw({__MODULE__, {:invalid_byte, 0xC1}})
  defp dec(<<0xC2, rest::binary>>, _t, _d), do: {false, rest}
  defp dec(<<0xC3, rest::binary>>, _t, _d), do: {true, rest}

  # bin 8/16/32
  defp dec(<<0xC4, n, s::binary-size(n), rest::binary>>, t, _d), do: {bin(s, t), rest}
  defp dec(<<0xC5, n::16, s::binary-size(n), rest::binary>>, t, _d), do: {bin(s, t), rest}
  defp dec(<<0xC6, n::32, s::binary-size(n), rest::binary>>, t, _d), do: {bin(s, t), rest}

  # ext 8/16/32: reported as soon as the type byte is readable
  defp dec(<<0xC7, _n, type::signed-8, _::binary>>, _t, _d), do: ext(type)
  defp dec(<<0xC8, _n::16, type::signed-8, _::binary>>, _t, _d), do: ext(type)
  defp dec(<<0xC9, _n::32, type::signed-8, _::binary>>, _t, _d), do: ext(type)

  # float 32/64 (NaN and the infinities do not match a float segment)
  defp dec(<<0xCA, f::float-32, rest::binary>>, _t, _d), do: {f, rest}
  defp dec(<<0xCA, raw::binary-size(4), _::binary>>, _t, _d), do: non_finite(raw)
  defp dec(<<0xCB, f::float-64, rest::binary>>, _t, _d), do: {f, rest}
  defp dec(<<0xCB, raw::binary-size(8), _::binary>>, _t, _d), do: non_finite(raw)

  # uint 8/16/32/64
  defp dec(<<0xCC, n, rest::binary>>, _t, _d), do: {n, rest}
  defp dec(<<0xCD, n::16, rest::binary>>, _t, _d), do: {n, rest}
  defp dec(<<0xCE, n::32, rest::binary>>, _t, _d), do: {n, rest}
  defp dec(<<0xCF, n::64, rest::binary>>, _t, _d), do: {n, rest}

  # int 8/16/32/64
  defp dec(<<0xD0, n::signed-8, rest::binary>>, _t, _d), do: {n, rest}
  defp dec(<<0xD1, n::signed-16, rest::binary>>, _t, _d), do: {n, rest}
  defp dec(<<0xD2, n::signed-32, rest::binary>>, _t, _d), do: {n, rest}
  defp dec(<<0xD3, n::signed-64, rest::binary>>, _t, _d), do: {n, rest}

  # fixext 1/2/4/8/16
  defp dec(<<b, type::signed-8, _::binary>>, _t, _d) when b in 0xD4..0xD8, do: ext(type)

  # str 8/16/32
  defp dec(<<0xD9, n, s::binary-size(n), rest::binary>>, _t, _d), do: {s, rest}
  defp dec(<<0xDA, n::16, s::binary-size(n), rest::binary>>, _t, _d), do: {s, rest}
  defp dec(<<0xDB, n::32, s::binary-size(n), rest::binary>>, _t, _d), do: {s, rest}

  # array 16/32
  defp dec(<<0xDC, n::16, rest::binary>>, t, d), do: dec_array(rest, n, t, down(d), [])
  defp dec(<<0xDD, n::32, rest::binary>>, t, d), do: dec_array(rest, n, t, down(d), [])

  # map 16/32
  defp dec(<<0xDE, n::16, rest::binary>>, t, d), do: dec_map(rest, n, t, down(d), [])
  defp dec(<<0xDF, n::32, rest::binary>>, t, d), do: dec_map(rest, n, t, down(d), [])

  # Anything else is a known type byte without enough bytes after it.
  defp dec(_binary, _t, _d), do: truncated()

  # Each element consumes at least one byte, so a huge declared count on a
  # short input ends in :truncated without allocating anything up front.
  defp dec_array(rest, 0, _t, _d, acc), do: {:lists.reverse(acc), rest}

  defp dec_array(bin, n, t, d, acc) do
    {v, rest} = dec(bin, t, d)
    dec_array(rest, n - 1, t, d, [v | acc])
  end

  defp dec_map(rest, 0, _t, _d, acc), do: {:maps.from_list(:lists.reverse(acc)), rest}

  defp dec_map(bin, n, t, d, acc) do
    {k, rest} = dec(bin, t, d)
    {v, rest} = dec(rest, t, d)
    dec_map(rest, n - 1, t, d, [{k, v} | acc])
  end

  @compile {:inline, bin: 2, down: 1}
  defp bin(s, true), do: {:bin, s}
  defp bin(s, false), do: s

  defp down(d) when d > 0, do: d - 1
  defp down(_d), do: throw({__MODULE__, :max_depth})

  defp truncated, do: throw({__MODULE__, :truncated})
  defp ext(type), do: throw({__MODULE__, {:ext_not_supported, type}})

  defp non_finite(raw) do
    bits = bit_size(raw)
    exp_bits = if bits == 32, do: 8, else: 11
    frac_bits = bits - 1 - exp_bits
    <<sign::1, _exp::size(exp_bits), frac::size(frac_bits)>> = raw

    kind =
      cond do
        frac != 0 -> :nan
        sign == 0 -> :infinity
        true -> :neg_infinity
      end

    throw({__MODULE__, {:non_finite_float, kind}})
  end
end
