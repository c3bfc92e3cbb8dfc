defmodule NervesDockerTs.TestExample do
  @moduledoc false
  # A private copy of examples/ in a temp dir, and the package map Nerves
  # would pass for it (Nerves is not needed: NervesDockerTs.Spec applies
  # Nerves' rules itself).

  @examples Path.expand("../../../examples", __DIR__)
  @image "localhost/nerves-docker-ts/example-br:0.1.0"

  def examples, do: @examples

  @doc "Copies the example system and platform into a new temp dir; returns the dir."
  def copy!(prefix \\ "ndt-mix") do
    dir = Path.join(System.tmp_dir!(), "#{prefix}-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    for part <- ["system", "platform"], do: File.cp_r!(Path.join(@examples, part), Path.join(dir, part))

    for junk <- ["system/.nerves", "system/_build", "system/deps", "platform/_build"],
        do: File.rm_rf!(Path.join(dir, junk))

    dir
  end

  def pkg(dir, extra \\ []) do
    %{
      app: :example_system,
      path: Path.join(dir, "system"),
      version: "0.1.0",
      type: :system,
      config:
        [
          platform_config: [defconfig: "nerves_defconfig"],
          build_runner_config: [
            docker: {Path.join(@examples, "platform/support/docker/nerves_system_br/Dockerfile"), @image}
          ],
          checksum: ["nerves_defconfig", "mix.exs", "rootfs_overlay"],
          nerves_docker_ts: [platform_path: Path.join(dir, "platform"), platform_version: "1.28.1"]
        ] ++ extra
    }
  end

  def docker_id(dir),
    do: File.read!(Path.join(dir, "system/.nerves/artifacts/example_system-portable-0.1.0/.docker_id"))

  @doc "Ids of the containers carrying the label (all states)."
  def containers(label) do
    {out, 0} = System.cmd("docker", ["ps", "-aq", "--filter", "label=#{label}"])
    String.split(out, "\n", trim: true)
  end

  def volume_exists?(name),
    do: match?({_, 0}, System.cmd("docker", ["volume", "inspect", name], stderr_to_stdout: true))

  @doc "Removes a volume once no container uses it any more (a job's container goes just after its reply)."
  def remove_volume(name) do
    wait_until(
      fn -> match?({_, 0}, System.cmd("docker", ["volume", "rm", "-f", name], stderr_to_stdout: true)) end,
      10_000
    )
  end

  def wait_until(fun, timeout_ms) do
    deadline = System.monotonic_time(:millisecond) + timeout_ms

    Stream.repeatedly(fn ->
      cond do
        fun.() -> :ok
        System.monotonic_time(:millisecond) > deadline -> :timeout
        true -> Process.sleep(50) && nil
      end
    end)
    |> Enum.find(& &1)
  end
end
