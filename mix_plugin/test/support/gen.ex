defmodule NervesDockerTs.Gen do
  @moduledoc false
  # Random protocol values for round-trip tests: nested maps (string keys) and
  # lists, 64-bit integer edges, binaries, unicode strings, non-integral floats
  # (a JS number cannot tell 1.0 from 1, see docs/protocol.md).
  import Bitwise

  @edges [
    0,
    1,
    -1,
    31,
    127,
    128,
    -32,
    -33,
    -128,
    -129,
    255,
    256,
    32_767,
    -32_768,
    65_535,
    65_536,
    2_147_483_647,
    -2_147_483_648,
    4_294_967_295,
    4_294_967_296,
    -4_294_967_297,
    9_223_372_036_854_775_807,
    -9_223_372_036_854_775_808,
    18_446_744_073_709_551_615
  ]

  def value(0), do: scalar()

  def value(depth) do
    case :rand.uniform(8) do
      1 -> for _ <- 1..:rand.uniform(6), into: %{}, do: {string(), value(depth - 1)}
      2 -> for _ <- 1..:rand.uniform(6), do: value(depth - 1)
      3 -> %{}
      4 -> []
      _ -> scalar()
    end
  end

  def scalar do
    case :rand.uniform(9) do
      1 -> Enum.random(@edges)
      2 -> :rand.uniform(1 <<< 62) * Enum.random([1, -1])
      3 -> float()
      4 -> :crypto.strong_rand_bytes(:rand.uniform(300))
      5 -> string()
      6 -> Enum.random([nil, true, false])
      7 -> String.duplicate("é✓😀", :rand.uniform(100))
      _ -> :rand.uniform(1000)
    end
  end

  # Floats a JS number keeps as floats: non-integral ones, or those beyond 2^53.
  def float do
    sign = Enum.random([1, -1])

    case :rand.uniform(3) do
      1 -> sign * (:rand.uniform(1_000_000_000) + 0.25 + :rand.uniform() / 8)
      2 -> sign * :rand.uniform() * 1.0e300 + sign * 1.0e20
      _ -> sign * (:rand.uniform() / 1024 + 1.0e-300)
    end
  end

  def string do
    len = :rand.uniform(40) - 1

    for(_ <- 0..len//1, do: Enum.random([?a, ?z, ?_, ?é, ?✓, 0x1F600, ?\s, 0]))
    |> List.to_string()
  end
end
