defmodule NervesSystemBr do
  @moduledoc """
  Miniature stand-in for the `nerves_system_br` platform (tests and demo of
  nerves-docker-ts only).

  The platform's work happens inside the build container:
  `create-build.sh DEFCONFIG BUILD_DIR` prepares a build directory and
  `mk/system.mk` (through the generated `BUILD_DIR/Makefile`) fakes a
  Buildroot build. Nothing in this module is called by the build runner.
  """

  @doc "The directory holding create-build.sh and mk/."
  @spec platform_dir() :: Path.t()
  def platform_dir, do: Path.expand("..", __DIR__)

  @doc """
  Called by real Nerves (`Nerves.Env.bootstrap/0`) once the system's artifact
  exists; the real nerves_system_br sets up the build environment here. The
  miniature has nothing to set up.
  """
  @spec bootstrap(term()) :: :ok
  def bootstrap(_pkg), do: :ok
end
