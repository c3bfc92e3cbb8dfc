defmodule NervesDockerTs.MsgpackTest.MiniJSON do
  @moduledoc false
  # Just enough JSON to read test/fixtures/msgpack_golden.json: the plugin
  # has no dependencies and Elixir 1.14 / OTP 25 ship no JSON module.

  def decode!(bin) when is_binary(bin) do
    {value, rest} = value(ws(bin))
    "" = ws(rest)
    value
  end

  defp ws(<<c, rest::binary>>) when c in [?\s, ?\t, ?\r, ?\n], do: ws(rest)
  defp ws(rest), do: rest

  defp value(<<"{", rest::binary>>), do: object(ws(rest), %{})
  defp value(<<"[", rest::binary>>), do: array(ws(rest), [])
  defp value(<<"\"", rest::binary>>), do: string(rest, [])
  defp value(<<"true", rest::binary>>), do: {true, rest}
  defp value(<<"false", rest::binary>>), do: {false, rest}
  defp value(<<"null", rest::binary>>), do: {nil, rest}
  defp value(bin), do: number(bin, [])

  defp object(<<"}", rest::binary>>, acc), do: {acc, rest}

  defp object(<<"\"", rest::binary>>, acc) do
    {key, rest} = string(rest, [])
    <<":", rest::binary>> = ws(rest)
    {val, rest} = value(ws(rest))
    acc = Map.put(acc, key, val)

    case ws(rest) do
      <<",", rest::binary>> -> object(ws(rest), acc)
      <<"}", rest::binary>> -> {acc, rest}
    end
  end

  defp array(<<"]", rest::binary>>, []), do: {[], rest}

  defp array(bin, acc) do
    {val, rest} = value(bin)

    case ws(rest) do
      <<",", rest::binary>> -> array(ws(rest), [val | acc])
      <<"]", rest::binary>> -> {Enum.reverse([val | acc]), rest}
    end
  end

  defp string(bin, acc) do
    case :binary.match(bin, ["\"", "\\"]) do
      {pos, 1} ->
        <<chunk::binary-size(pos), special, rest::binary>> = bin
        acc = [acc | chunk]

        case special do
          ?" -> {IO.iodata_to_binary(acc), rest}
          ?\\ -> escape(rest, acc)
        end
    end
  end

  defp escape(<<"u", hex::binary-size(4), rest::binary>>, acc) do
    case {String.to_integer(hex, 16), rest} do
      {hi, <<"\\u", lo::binary-size(4), rest2::binary>>} when hi in 0xD800..0xDBFF ->
        lo = String.to_integer(lo, 16)
        cp = 0x10000 + (hi - 0xD800) * 0x400 + (lo - 0xDC00)
        string(rest2, [acc | <<cp::utf8>>])

      {cp, _} ->
        string(rest, [acc | <<cp::utf8>>])
    end
  end

  defp escape(<<c, rest::binary>>, acc) do
    char =
      case c do
        ?" -> ?"
        ?\\ -> ?\\
        ?/ -> ?/
        ?b -> ?\b
        ?f -> ?\f
        ?n -> ?\n
        ?r -> ?\r
        ?t -> ?\t
      end

    string(rest, [acc, char])
  end

  defp number(<<c, rest::binary>>, acc) when c in ?0..?9 or c in [?-, ?+, ?., ?e, ?E],
    do: number(rest, [acc, c])

  defp number(rest, acc) do
    text = IO.iodata_to_binary(acc)

    if String.contains?(text, [".", "e", "E"]) do
      {float, ""} = Float.parse(text)
      {float, rest}
    else
      {String.to_integer(text), rest}
    end
  end
end

defmodule NervesDockerTs.MsgpackTest do
  use ExUnit.Case, async: true

  alias NervesDockerTs.Msgpack
  alias NervesDockerTs.MsgpackTest.MiniJSON

  doctest NervesDockerTs.Msgpack

  @golden_path Path.expand("fixtures/msgpack_golden.json", __DIR__)
  @external_resource @golden_path

  @golden_names @golden_path
                |> File.read!()
                |> MiniJSON.decode!()
                |> Map.fetch!("cases")
                |> Enum.map(& &1["name"])

  if length(Enum.uniq(@golden_names)) != length(@golden_names) do
    raise "duplicate case names in #{@golden_path}"
  end

  setup_all do
    cases =
      @golden_path
      |> File.read!()
      |> MiniJSON.decode!()
      |> Map.fetch!("cases")

    %{golden: Map.new(cases, &{&1["name"], &1}), golden_list: cases}
  end

  ## Golden vectors from msgpackr (scripts/gen-msgpack-golden.mjs)

  for name <- @golden_names do
    test "golden: #{name}", %{golden: golden} do
      %{"hex" => hex, "exact" => exact?, "term" => desc} = Map.fetch!(golden, unquote(name))
      bytes = Base.decode16!(hex, case: :lower)
      tuple_term = build(desc, :tuple)
      plain_term = build(desc, :plain)

      # msgpackr's bytes decode to the described term, in both bin modes.
      assert Msgpack.decode(bytes, bin_as: :tuple) === {:ok, tuple_term}
      assert Msgpack.decode(bytes) === {:ok, plain_term}

      # And the other way round.
      {:ok, ours} = Msgpack.encode(tuple_term)

      if exact? do
        assert ours === bytes
      else
        assert Msgpack.decode(ours, bin_as: :tuple) === {:ok, tuple_term}
      end
    end
  end

  test "golden file covers what the sidecar actually sends", %{golden_list: cases} do
    assert length(cases) >= 55
    exact = Enum.filter(cases, & &1["exact"])
    assert length(exact) >= 45

    # msgpackr writes even tiny plain objects as map16; the decoder must take them.
    small_map16 =
      Enum.filter(cases, fn %{"hex" => hex} ->
        match?(<<0xDE, n::16, _::binary>> when n < 16, Base.decode16!(hex, case: :lower))
      end)

    assert length(small_map16) >= 3

    first_bytes =
      cases
      |> Enum.map(fn %{"hex" => <<b::binary-size(2), _::binary>>} -> String.to_integer(b, 16) end)
      |> MapSet.new()

    for b <-
          [0xC4, 0xC5, 0xC6, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF, 0xD0, 0xD1, 0xD2, 0xD3] ++
            [0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xC0, 0xC2, 0xC3, 0xE0, 0xFF, 0x00, 0x7F] do
      assert b in first_bytes, "no golden vector starts with 0x#{Integer.to_string(b, 16)}"
    end
  end

  defp build(%{"t" => "nil"}, _mode), do: nil
  defp build(%{"t" => "bool", "v" => b}, _mode) when is_boolean(b), do: b
  defp build(%{"t" => "int", "v" => s}, _mode), do: String.to_integer(s)

  defp build(%{"t" => "float", "bits" => hex}, _mode) do
    <<f::float-64>> = Base.decode16!(hex, case: :lower)
    f
  end

  defp build(%{"t" => "str", "v" => s}, _mode), do: s
  defp build(%{"t" => "str_repeat", "unit" => u, "n" => n}, _mode), do: String.duplicate(u, n)
  defp build(%{"t" => "bin", "hex" => hex}, mode), do: wrap_bin(Base.decode16!(hex, case: :lower), mode)
  defp build(%{"t" => "bin_seq", "n" => n}, mode), do: wrap_bin(seq_bytes(n), mode)
  defp build(%{"t" => "array", "v" => list}, mode), do: Enum.map(list, &build(&1, mode))

  defp build(%{"t" => "array_seq", "n" => n, "mod" => m}, _mode),
    do: Enum.map(0..(n - 1)//1, &rem(&1, m))

  defp build(%{"t" => "map", "v" => kvs}, mode),
    do: Map.new(kvs, fn [k, v] -> {build(k, mode), build(v, mode)} end)

  defp wrap_bin(b, :tuple), do: {:bin, b}
  defp wrap_bin(b, :plain), do: b

  defp seq_bytes(n), do: for(i <- 0..(n - 1)//1, into: <<>>, do: <<rem(i, 256)>>)

  ## Encoding: exact wire forms

  describe "encode/1" do
    test "nil and booleans" do
      assert Msgpack.encode(nil) == {:ok, <<0xC0>>}
      assert Msgpack.encode(true) == {:ok, <<0xC3>>}
      assert Msgpack.encode(false) == {:ok, <<0xC2>>}
    end

    test "integers use the smallest representation" do
      cases = [
        {0, <<0x00>>},
        {127, <<0x7F>>},
        {128, <<0xCC, 0x80>>},
        {255, <<0xCC, 0xFF>>},
        {256, <<0xCD, 0x01, 0x00>>},
        {65_535, <<0xCD, 0xFF, 0xFF>>},
        {65_536, <<0xCE, 0, 1, 0, 0>>},
        {0xFFFF_FFFF, <<0xCE, 0xFF, 0xFF, 0xFF, 0xFF>>},
        {0x1_0000_0000, <<0xCF, 0, 0, 0, 1, 0, 0, 0, 0>>},
        {0xFFFF_FFFF_FFFF_FFFF, <<0xCF, -1::64>>},
        {-1, <<0xFF>>},
        {-32, <<0xE0>>},
        {-33, <<0xD0, 0xDF>>},
        {-128, <<0xD0, 0x80>>},
        {-129, <<0xD1, 0xFF, 0x7F>>},
        {-32_768, <<0xD1, 0x80, 0x00>>},
        {-32_769, <<0xD2, 0xFF, 0xFF, 0x7F, 0xFF>>},
        {-0x8000_0000, <<0xD2, 0x80, 0, 0, 0>>},
        {-0x8000_0001, <<0xD3, -0x8000_0001::64>>},
        {-0x8000_0000_0000_0000, <<0xD3, 0x80, 0, 0, 0, 0, 0, 0, 0>>}
      ]

      for {n, bytes} <- cases do
        assert Msgpack.encode(n) == {:ok, bytes}, "encoding #{n}"
        assert Msgpack.decode(bytes) === {:ok, n}
      end
    end

    test "floats are always float64" do
      assert Msgpack.encode(1.5) == {:ok, <<0xCB, 1.5::float-64>>}
      assert Msgpack.encode(0.0) == {:ok, <<0xCB, 0::64>>}
      assert Msgpack.encode(1.0) == {:ok, <<0xCB, 1.0::float-64>>}
      assert Msgpack.encode(1.0e300) == {:ok, <<0xCB, 1.0e300::float-64>>}
    end

    test "valid UTF-8 binaries are str, with size-dependent headers" do
      for {size, header} <- [
            {0, <<0xA0>>},
            {31, <<0xBF>>},
            {32, <<0xD9, 32>>},
            {255, <<0xD9, 255>>},
            {256, <<0xDA, 1, 0>>},
            {65_535, <<0xDA, 0xFF, 0xFF>>},
            {65_536, <<0xDB, 0, 1, 0, 0>>}
          ] do
        s = String.duplicate("s", size)
        assert Msgpack.encode(s) == {:ok, header <> s}, "str of #{size} bytes"
      end

      assert Msgpack.encode("héllo ✓ 😀") == {:ok, <<0xAF, "héllo ✓ 😀">>}
    end

    test "non-UTF-8 binaries are bin, and {:bin, b} forces bin" do
      assert Msgpack.encode(<<0xFF>>) == {:ok, <<0xC4, 1, 0xFF>>}
      assert Msgpack.encode(<<"ok", 0xC3>>) == {:ok, <<0xC4, 3, "ok", 0xC3>>}
      assert Msgpack.encode({:bin, "abc"}) == {:ok, <<0xC4, 3, "abc">>}
      assert Msgpack.encode({:bin, ""}) == {:ok, <<0xC4, 0>>}

      for {size, header} <- [
            {255, <<0xC4, 255>>},
            {256, <<0xC5, 1, 0>>},
            {65_535, <<0xC5, 0xFF, 0xFF>>},
            {65_536, <<0xC6, 0, 1, 0, 0>>}
          ] do
        b = :binary.copy(<<0>>, size)
        assert Msgpack.encode({:bin, b}) == {:ok, header <> b}, "bin of #{size} bytes"
      end
    end

    test "atoms other than nil/true/false are str of their name" do
      assert Msgpack.encode(:ok) == {:ok, <<0xA2, "ok">>}
      assert Msgpack.encode(:foo) == {:ok, <<0xA3, "foo">>}
      assert Msgpack.encode(Elixir.Foo) == {:ok, <<0xAA, "Elixir.Foo">>}
      assert Msgpack.encode(%{status: :ok}) == {:ok, <<0x81, 0xA6, "status", 0xA2, "ok">>}
    end

    test "lists are arrays with size-dependent headers" do
      for {n, header} <- [
            {0, <<0x90>>},
            {15, <<0x9F>>},
            {16, <<0xDC, 0, 16>>},
            {65_535, <<0xDC, 0xFF, 0xFF>>},
            {65_536, <<0xDD, 0, 1, 0, 0>>}
          ] do
        list = List.duplicate(nil, n)
        assert Msgpack.encode(list) == {:ok, header <> :binary.copy(<<0xC0>>, n)}
        assert Msgpack.decode(header <> :binary.copy(<<0xC0>>, n)) == {:ok, list}
      end
    end

    test "maps are fixmap/map16/map32 by size" do
      for {n, header} <- [
            {0, <<0x80>>},
            {15, <<0x8F>>},
            {16, <<0xDE, 0, 16>>},
            {65_535, <<0xDE, 0xFF, 0xFF>>},
            {65_536, <<0xDF, 0, 1, 0, 0>>}
          ] do
        map = Map.new(1..n//1, &{&1, nil})
        {:ok, bin} = Msgpack.encode(map)
        assert binary_part(bin, 0, byte_size(header)) == header
        assert Msgpack.decode(bin) === {:ok, map}
      end
    end

    test "encode_to_iodata/1 does not copy large binaries and matches encode/1" do
      big = :binary.copy(<<1, 2, 3, 0xFF>>, 100_000)
      {:ok, iodata} = Msgpack.encode_to_iodata(%{"data" => {:bin, big}})
      assert IO.iodata_to_binary(iodata) == Msgpack.encode!(%{"data" => {:bin, big}})
      # the very same binary object is referenced from the iodata
      assert Enum.any?(iodata_binaries(iodata, []), &:erts_debug.same(&1, big))
    end

    test "encode!/1 returns the binary" do
      assert Msgpack.encode!([1, "a"]) == <<0x92, 0x01, 0xA1, ?a>>
    end
  end

  defp iodata_binaries(bin, acc) when is_binary(bin), do: [bin | acc]
  defp iodata_binaries([h | t], acc), do: iodata_binaries(t, iodata_binaries(h, acc))
  defp iodata_binaries(_byte_or_empty, acc), do: acc

  ## Decoding specifics

  describe "decode/2" do
    test "bin decodes to a binary by default and {:bin, b} with bin_as: :tuple" do
      assert Msgpack.decode(<<0xC4, 2, "hi">>) === {:ok, "hi"}
      assert Msgpack.decode(<<0xC4, 2, "hi">>, bin_as: :binary) === {:ok, "hi"}
      assert Msgpack.decode(<<0xC4, 2, "hi">>, bin_as: :tuple) === {:ok, {:bin, "hi"}}
      assert Msgpack.decode(<<0xC5, 0, 1, 7>>, bin_as: :tuple) === {:ok, {:bin, <<7>>}}
      assert Msgpack.decode(<<0xC6, 0, 0, 0, 1, 7>>, bin_as: :tuple) === {:ok, {:bin, <<7>>}}
      assert Msgpack.decode(<<0x91, 0xC4, 0>>, bin_as: :tuple) === {:ok, [{:bin, ""}]}
      # str stays a plain binary in either mode
      assert Msgpack.decode(<<0xA2, "hi">>, bin_as: :tuple) === {:ok, "hi"}
    end

    test "accepts non-minimal headers for every size" do
      assert Msgpack.decode(<<0xDE, 0, 0>>) === {:ok, %{}}
      assert Msgpack.decode(<<0xDE, 0, 1, 0xA1, ?a, 1>>) === {:ok, %{"a" => 1}}
      assert Msgpack.decode(<<0xDF, 0, 0, 0, 1, 0xA1, ?a, 1>>) === {:ok, %{"a" => 1}}
      assert Msgpack.decode(<<0xDC, 0, 1, 0xC0>>) === {:ok, [nil]}
      assert Msgpack.decode(<<0xDD, 0, 0, 0, 1, 0xC0>>) === {:ok, [nil]}
      assert Msgpack.decode(<<0xD9, 1, ?x>>) === {:ok, "x"}
      assert Msgpack.decode(<<0xDA, 0, 1, ?x>>) === {:ok, "x"}
      assert Msgpack.decode(<<0xDB, 0, 0, 0, 1, ?x>>) === {:ok, "x"}
      assert Msgpack.decode(<<0xCC, 1>>) === {:ok, 1}
      assert Msgpack.decode(<<0xCF, 1::64>>) === {:ok, 1}
      assert Msgpack.decode(<<0xD3, -1::64>>) === {:ok, -1}
      assert Msgpack.decode(<<0xD3, 5::64>>) === {:ok, 5}
      assert Msgpack.decode(<<0xD0, 5>>) === {:ok, 5}
    end

    test "float32" do
      assert Msgpack.decode(<<0xCA, 1.5::float-32>>) === {:ok, 1.5}
      assert Msgpack.decode(<<0xCA, -0.25::float-32>>) === {:ok, -0.25}
      {:ok, f} = Msgpack.decode(<<0xCA, 0.1::float-32>>)
      assert_in_delta f, 0.1, 1.0e-7
    end

    test "map keys can be any msgpack value; duplicate keys keep the last value" do
      assert Msgpack.decode(<<0x82, 0x01, 0xA1, ?a, 0x91, 0xC0, 0xC3>>) === {:ok, %{1 => "a", [nil] => true}}
      assert Msgpack.decode(<<0x82, 0xA1, ?k, 1, 0xA1, ?k, 2>>) === {:ok, %{"k" => 2}}
    end

    test "strings never become atoms" do
      name = "msgpack_test_no_such_atom_#{System.unique_integer([:positive])}"
      {:ok, bin} = Msgpack.encode(%{name => [name]})
      assert Msgpack.decode(bin) === {:ok, %{name => [name]}}
      assert_raise ArgumentError, fn -> String.to_existing_atom(name) end
    end

    test "str payloads are returned as-is (no UTF-8 validation)" do
      assert Msgpack.decode(<<0xA1, 0xFF>>) === {:ok, <<0xFF>>}
    end

    test "decode!/2" do
      assert Msgpack.decode!(<<0x92, 0x01, 0xA1, ?a>>) == [1, "a"]
      assert Msgpack.decode!(<<0xC4, 1, 0>>, bin_as: :tuple) == {:bin, <<0>>}
    end

    test "invalid options raise ArgumentError" do
      assert_raise ArgumentError, fn -> Msgpack.decode(<<0xC0>>, bin_as: :atom) end
      assert_raise ArgumentError, fn -> Msgpack.decode(<<0xC0>>, max_depth: 0) end
    end
  end

  ## Error paths

  describe "decode errors" do
    test "every proper prefix of an encoding is :truncated" do
      terms = [
        nil,
        0xFFFF_FFFF_FFFF_FFFF,
        -0x8000_0000_0000_0000,
        -33,
        1.5,
        "héllo ✓ 😀",
        String.duplicate("x", 300),
        {:bin, :binary.copy(<<0xAB>>, 70_000)},
        [1, [2, [3, %{"k" => [true, false, nil]}]], {:bin, <<1, 2, 3>>}, -129],
        %{"a" => 1, "b" => [%{"c" => {:bin, ""}}, 2.5], "long" => String.duplicate("y", 40)},
        List.duplicate(7, 20),
        Map.new(1..20, &{"key#{&1}", &1})
      ]

      for term <- terms do
        {:ok, bin} = Msgpack.encode(term)
        assert Msgpack.decode(bin, bin_as: :tuple) === {:ok, term}

        prefix_sizes =
          if byte_size(bin) > 2_000,
            do: Enum.to_list(0..64) ++ Enum.to_list((byte_size(bin) - 64)..(byte_size(bin) - 1)),
            else: Enum.to_list(0..(byte_size(bin) - 1))

        for n <- prefix_sizes do
          assert Msgpack.decode(binary_part(bin, 0, n)) == {:error, :truncated},
                 "prefix #{n}/#{byte_size(bin)} of #{inspect(term, limit: 5)}"
        end
      end
    end

    test "every proper prefix of the smaller golden vectors is :truncated", %{golden_list: cases} do
      for %{"name" => name, "hex" => hex} <- cases, byte_size(hex) <= 4_000 do
        bin = Base.decode16!(hex, case: :lower)

        for n <- 0..(byte_size(bin) - 1) do
          assert Msgpack.decode(binary_part(bin, 0, n)) == {:error, :truncated},
                 "prefix #{n} of golden #{name}"
        end
      end
    end

    test "empty input is :truncated" do
      assert Msgpack.decode(<<>>) == {:error, :truncated}
    end

    test "huge declared lengths on short input are :truncated, not allocated" do
      for bin <- [
            <<0xDD, 0xFF, 0xFF, 0xFF, 0xFF>>,
            <<0xDD, 0xFF, 0xFF, 0xFF, 0xFF, 0xC0, 0xC0>>,
            <<0xDF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC0>>,
            <<0xDB, 0xFF, 0xFF, 0xFF, 0xFF, "abc">>,
            <<0xC6, 0xFF, 0xFF, 0xFF, 0xFF, "abc">>,
            <<0xDC, 0xFF, 0xFF>>,
            <<0xDE, 0xFF, 0xFF, 0x01>>
          ] do
        assert Msgpack.decode(bin) == {:error, :truncated}
      end
    end

    test "trailing bytes after a complete value" do
      assert Msgpack.decode(<<0xC0, 0x00>>) == {:error, {:trailing_bytes, 1}}
      assert Msgpack.decode(<<0x01, 1, 2, 3>>) == {:error, {:trailing_bytes, 3}}

      assert Msgpack.decode(Msgpack.encode!(%{"a" => [1, 2]}) <> <<0xC1, 0xC1>>) ==
               {:error, {:trailing_bytes, 2}}

      assert Msgpack.decode(<<0x90, 0x90>>) == {:error, {:trailing_bytes, 1}}
    end

    test "ext and fixext types are rejected with their (signed) type" do
      cases = [
        {<<0xD4, 5, 0>>, 5},
        {<<0xD5, 5, 0, 0>>, 5},
        {<<0xD6, 0xFF, 0, 0, 0, 0>>, -1},
        {<<0xD7, 0xFF, 0::64>>, -1},
        {<<0xD8, 0x7F, 0::128>>, 127},
        {<<0xC7, 1, 0x42, 0>>, 0x42},
        {<<0xC7, 0, 0x01>>, 1},
        {<<0xC8, 0, 1, 0x80, 0>>, -128},
        {<<0xC9, 0, 0, 0, 1, 0x62, 0>>, 0x62}
      ]

      for {bin, type} <- cases do
        assert Msgpack.decode(bin) == {:error, {:ext_not_supported, type}}
        # also when nested inside containers
        assert Msgpack.decode(<<0x92, 0xC0>> <> bin) == {:error, {:ext_not_supported, type}}
        assert Msgpack.decode(<<0x81, 0xA1, ?k>> <> bin) == {:error, {:ext_not_supported, type}}
      end

      # a header cut before the type byte is truncated
      for bin <- [<<0xD4>>, <<0xD8>>, <<0xC7, 1>>, <<0xC8, 0, 1>>, <<0xC9, 0, 0, 0, 1>>] do
        assert Msgpack.decode(bin) == {:error, :truncated}
      end
    end

    test "0xc1 is invalid" do
      assert Msgpack.decode(<<0xC1>>) == {:error, {:invalid_byte, 0xC1}}
      assert Msgpack.decode(<<0x93, 0x01, 0x02, 0xC1>>) == {:error, {:invalid_byte, 0xC1}}
      assert Msgpack.decode(<<0x81, 0xC1, 0x01>>) == {:error, {:invalid_byte, 0xC1}}
    end

    test "NaN and infinities are rejected" do
      assert Msgpack.decode(<<0xCB, 0x7FF8::16, 0::48>>) == {:error, {:non_finite_float, :nan}}
      assert Msgpack.decode(<<0xCB, 0x7FF0::16, 0::48>>) == {:error, {:non_finite_float, :infinity}}
      assert Msgpack.decode(<<0xCB, 0xFFF0::16, 0::48>>) == {:error, {:non_finite_float, :neg_infinity}}
      assert Msgpack.decode(<<0xCA, 0x7FC0::16, 0::16>>) == {:error, {:non_finite_float, :nan}}
      assert Msgpack.decode(<<0xCA, 0x7F80::16, 0::16>>) == {:error, {:non_finite_float, :infinity}}
      assert Msgpack.decode(<<0xCA, 0xFF80::16, 0::16>>) == {:error, {:non_finite_float, :neg_infinity}}
    end

    test "nesting deeper than :max_depth is rejected without blowing the stack" do
      deep = :binary.copy(<<0x91>>, 100_000) <> <<0xC0>>
      assert Msgpack.decode(deep) == {:error, {:max_depth_exceeded, 1024}}
      assert Msgpack.decode(deep, max_depth: 100_000) |> elem(0) == :ok

      assert Msgpack.decode(<<0x91, 0x91, 0xC0>>, max_depth: 2) == {:ok, [[nil]]}
      assert Msgpack.decode(<<0x91, 0x91, 0xC0>>, max_depth: 1) == {:error, {:max_depth_exceeded, 1}}
      assert Msgpack.decode(<<0x81, 0xC0, 0x80>>, max_depth: 1) == {:error, {:max_depth_exceeded, 1}}
    end

    test "decode!/2 raises NervesDockerTs.Msgpack.Error" do
      error = assert_raise Msgpack.Error, fn -> Msgpack.decode!(<<0xC1>>) end
      assert error.reason == {:invalid_byte, 0xC1}
      assert Exception.message(error) =~ "invalid_byte"
      assert_raise Msgpack.Error, fn -> Msgpack.decode!(<<0x92, 0x01>>) end
    end

    test "no byte sequence makes decode/2 raise" do
      :rand.seed(:exsss, {7, 7, 7})

      valid =
        Msgpack.encode!(%{
          "a" => [1, -200, 70_000, 1.5, nil, true],
          "b" => {:bin, <<1, 2, 3>>},
          "s" => String.duplicate("z", 40),
          "m" => %{"x" => [[], %{}]}
        })

      inputs =
        Enum.map(1..3_000, fn _ -> random_bytes(:rand.uniform(24)) end) ++
          Enum.map(1..3_000, fn _ ->
            # overwrite one random byte of a valid encoding
            pos = :rand.uniform(byte_size(valid)) - 1
            <<pre::binary-size(pos), _, post::binary>> = valid
            pre <> <<:rand.uniform(256) - 1>> <> post
          end)

      for bin <- inputs do
        for opts <- [[], [bin_as: :tuple]] do
          result = Msgpack.decode(bin, opts)
          assert match?({:ok, _}, result) or match?({:error, _}, result)
        end
      end
    end
  end

  defp random_bytes(0), do: ""
  defp random_bytes(n), do: for(_ <- 1..n, into: <<>>, do: <<:rand.uniform(256) - 1>>)

  describe "encode errors" do
    test "unsupported terms name the offending part" do
      ref = make_ref()
      fun = fn -> :ok end

      cases = [
        {{:ok, 1}, {:ok, 1}},
        {{1, 2, 3}, {1, 2, 3}},
        {{}, {}},
        {self(), self()},
        {ref, ref},
        {fun, fun},
        {<<1::3>>, <<1::3>>},
        {[1 | 2], [1 | 2]},
        {[1, 2 | :tail], [1, 2 | :tail]},
        {0x1_0000_0000_0000_0000, 0x1_0000_0000_0000_0000},
        {-0x8000_0000_0000_0001, -0x8000_0000_0000_0001},
        {{:bin, 123}, {:bin, 123}},
        {{:bin, <<1::4>>}, {:bin, <<1::4>>}},
        {%{"a" => [1, {:x}]}, {:x}},
        {%{{:tuple, :key} => 1}, {:tuple, :key}},
        {[ok: 1], {:ok, 1}},
        {URI.parse("http://x"), URI.parse("http://x")},
        {%{"when" => ~D[2024-01-01]}, ~D[2024-01-01]}
      ]

      for {term, bad} <- cases do
        assert Msgpack.encode(term) == {:error, {:unsupported, bad}}, inspect(term)
        assert Msgpack.encode_to_iodata(term) == {:error, {:unsupported, bad}}
      end
    end

    test "encode!/1 raises NervesDockerTs.Msgpack.Error" do
      error = assert_raise Msgpack.Error, fn -> Msgpack.encode!({:ok, 1}) end
      assert error.reason == {:unsupported, {:ok, 1}}
    end
  end

  ## Property-style round trip

  @edge_ints [
    0,
    1,
    127,
    128,
    255,
    256,
    65_535,
    65_536,
    0xFFFF_FFFF,
    0x1_0000_0000,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    0xFFFF_FFFF_FFFF_FFFF,
    -1,
    -32,
    -33,
    -128,
    -129,
    -32_768,
    -32_769,
    -0x8000_0000,
    -0x8000_0001,
    -0x8000_0000_0000_0000
  ]

  @edge_floats [0.0, 1.5, -0.25, 1.0e300, -1.0e-300, 5.0e-324, 1.7976931348623157e308, 0.1]

  # code points from every UTF-8 width, including the edges of each
  @code_points [?a, ?Z, ?0, ?\s, 0x7F, 0xE9, 0x7FF, 0x800, 0x2713, 0xFFFD, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF]

  test "2,000 random nested terms round-trip exactly" do
    :rand.seed(:exsss, {2024, 11, 24})

    for i <- 1..2_000 do
      term = gen(4)
      {:ok, bin} = Msgpack.encode(term)

      assert Msgpack.decode(bin, bin_as: :tuple) === {:ok, term},
             "term ##{i}: #{inspect(term, limit: 20)}"

      # without bin_as: :tuple, the same data with bins unwrapped
      assert Msgpack.decode(bin) === {:ok, unwrap_bins(term)}
      # the encoding is canonical: re-encoding the decoded term gives the same bytes
      assert Msgpack.encode!(Msgpack.decode!(bin, bin_as: :tuple)) == bin
    end
  end

  defp gen(0), do: gen_scalar()

  defp gen(depth) do
    case :rand.uniform(10) do
      n when n <= 5 -> gen_scalar()
      n when n <= 7 -> Enum.map(1..gen_len()//1, fn _ -> gen(depth - 1) end)
      _ -> Map.new(1..gen_len()//1, fn _ -> {gen_key(), gen(depth - 1)} end)
    end
  end

  # mostly small (fix* forms), sometimes just past the 16-element boundary
  defp gen_len do
    if :rand.uniform(12) == 1, do: 14 + :rand.uniform(6), else: :rand.uniform(6) - 1
  end

  defp gen_key do
    case :rand.uniform(8) do
      1 -> gen_int()
      _ -> gen_string(12)
    end
  end

  defp gen_scalar do
    case :rand.uniform(9) do
      1 -> Enum.random([nil, true, false])
      2 -> Enum.random(@edge_ints)
      3 -> gen_int()
      4 -> gen_float()
      5 -> gen_string(40)
      6 -> gen_string(300)
      7 -> {:bin, random_bytes(:rand.uniform(40)) |> maybe_empty()}
      8 -> {:bin, random_bytes(250 + :rand.uniform(20))}
      9 -> Enum.random(@edge_floats)
    end
  end

  defp maybe_empty(bin), do: if(:rand.uniform(10) == 1, do: "", else: bin)

  defp gen_int do
    case :rand.uniform(4) do
      1 -> :rand.uniform(200) - 100
      2 -> :rand.uniform(0x1_0000_0000) - 0x8000_0000
      _ -> :rand.uniform(0x1_0000_0000_0000_0000 + 0x8000_0000_0000_0000) - 1 - 0x8000_0000_0000_0000
    end
  end

  defp gen_float do
    sign = if :rand.uniform(2) == 1, do: 1, else: -1
    sign * :rand.uniform() * :math.pow(10, :rand.uniform(40) - 20)
  end

  defp gen_string(max_len) do
    len = :rand.uniform(max_len + 1) - 1
    for _ <- 1..len//1, into: "", do: <<Enum.random(@code_points)::utf8>>
  end

  defp unwrap_bins({:bin, b}), do: b
  defp unwrap_bins(list) when is_list(list), do: Enum.map(list, &unwrap_bins/1)

  defp unwrap_bins(map) when is_map(map),
    do: Map.new(map, fn {k, v} -> {unwrap_bins(k), unwrap_bins(v)} end)

  defp unwrap_bins(other), do: other

  ## Large values

  @tag timeout: 120_000
  test "a 50 MB bin round-trips as {:bin, _} and decodes without copying" do
    size = 50 * 1024 * 1024
    big = :binary.copy(seq_bytes(256), div(size, 256))
    assert byte_size(big) == size

    {:ok, encoded} = Msgpack.encode({:bin, big})
    assert byte_size(encoded) == size + 5
    assert <<0xC6, ^size::32, _::binary>> = encoded

    {time_us, result} = :timer.tc(fn -> Msgpack.decode(encoded, bin_as: :tuple) end)
    assert {:ok, {:bin, decoded}} = result
    assert decoded == big
    # a sub-binary of the input, not a copy
    assert :binary.referenced_byte_size(decoded) == byte_size(encoded)
    # zero-copy decoding of one 50 MB value is far below a second
    assert time_us < 1_000_000, "decoding took #{time_us} µs"

    # non-UTF-8, so a plain binary is encoded as bin too
    assert Msgpack.encode!(big) == encoded
    assert Msgpack.decode(encoded) === {:ok, big}

    # nested inside a map next to other values
    {:ok, framed} = Msgpack.encode(%{"id" => 1, "data" => {:bin, big}, "ok" => true})
    assert {:ok, %{"id" => 1, "data" => {:bin, ^big}, "ok" => true}} = Msgpack.decode(framed, bin_as: :tuple)
  end

  test "a 5 MB UTF-8 string round-trips as str32" do
    s = String.duplicate("héllo ✓ 😀 ", 300_000)
    {:ok, encoded} = Msgpack.encode(s)
    assert <<0xDB, size::32, _::binary>> = encoded
    assert size == byte_size(s)
    assert Msgpack.decode(encoded) === {:ok, s}
  end

  test "a 200,000 element array decodes quickly" do
    list = Enum.to_list(1..200_000)
    {:ok, encoded} = Msgpack.encode(list)
    {time_us, result} = :timer.tc(fn -> Msgpack.decode(encoded) end)
    assert result === {:ok, list}
    assert time_us < 2_000_000, "decoding took #{time_us} µs"
  end
end
