# PowerShell completion for envman: `envman completion powershell` prints this,
# completions/envman.ps1 ships it. Install: add this line to your $PROFILE
#   envman completion powershell | Out-String | Invoke-Expression
# (or save the script and dot-source it from $PROFILE).
# The first TAB in a session runs `envman completion --setup` once; later ones run only
# envman's small completion module with `python -I -S`.

Register-ArgumentCompleter -Native -CommandName envman -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $setup = $global:EnvmanCompleteSetup
    if (-not $setup -or $setup.Count -lt 4 -or
            -not (Test-Path -LiteralPath $setup[0] -PathType Leaf) -or
            -not (Test-Path -LiteralPath (Join-Path (Join-Path $setup[1] 'envman') '_complete.py') -PathType Leaf)) {
        $setup = @(& envman completion --setup 2>$null)
        $global:EnvmanCompleteSetup = $setup
        if ($setup.Count -lt 4) { return }
    }
    $words = @()
    foreach ($element in $commandAst.CommandElements) {
        if ($element.Extent.StartOffset -ge $cursorPosition) { break }
        $words += $element.Extent.Text
    }
    # An empty word under the cursor is not passed (older PowerShell drops empty
    # arguments to programs): a CWORD equal to the number of words means just that.
    $cword = $words.Count
    if ($wordToComplete -ne '') {
        $cword = $words.Count - 1
        $words[$cword] = $wordToComplete
    }
    $reply = @(& $setup[0] -I -S -c 'import sys;sys.path[:0]=sys.argv[1:2];from envman.shell.complete_fast import main;main(sys.argv[2:])' $setup[1] 1 powershell $setup[2] $setup[3] $cword @words 2>$null)
    # A directive (files, directories, a command line) means PowerShell's own completion.
    if ($reply.Count -eq 0 -or $reply[0].StartsWith(':')) { return }
    foreach ($item in $reply) {
        [System.Management.Automation.CompletionResult]::new($item, $item, 'ParameterValue', $item)
    }
}
